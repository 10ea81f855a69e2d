package server

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/jwt/v2"
)

// A scoped signing key's template may name the user and its account in
// permission subjects: {{name()}}, {{subject()}}, {{tag(key)}},
// {{account-name()}}, {{account-subject()}}, {{account-tag(key)}}. A tag
// with several values expands into one subject per value; a missing tag
// refuses the user.

var templateOp = regexp.MustCompile(`{{\s*([a-z-]+)\(\s*([^)]*?)\s*\)\s*}}`)

// expandUserTemplate returns the template with every subject expanded for
// the user uc of the account ac.
func expandUserTemplate(tpl jwt.UserPermissionLimits, uc *jwt.UserClaims, ac *jwt.AccountClaims) (*jwt.UserPermissionLimits, error) {
	out := tpl
	var err error
	expand := func(list jwt.StringList) jwt.StringList {
		if err != nil || len(list) == 0 {
			return list
		}
		var res jwt.StringList
		for _, subj := range list {
			var got []string
			if got, err = expandTemplateSubject(subj, uc, ac); err != nil {
				return nil
			}
			res = append(res, got...)
		}
		return res
	}
	out.Pub.Allow, out.Pub.Deny = expand(tpl.Pub.Allow), expand(tpl.Pub.Deny)
	out.Sub.Allow, out.Sub.Deny = expand(tpl.Sub.Allow), expand(tpl.Sub.Deny)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// expandTemplateSubject expands the template functions of one subject.
func expandTemplateSubject(subj string, uc *jwt.UserClaims, ac *jwt.AccountClaims) ([]string, error) {
	results := []string{subj}
	for _, m := range templateOp.FindAllStringSubmatch(subj, -1) {
		values, err := templateValues(m[1], m[2], uc, ac)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, r := range results {
			for _, v := range values {
				next = append(next, strings.Replace(r, m[0], v, 1))
			}
		}
		results = next
	}
	for _, r := range results {
		if !IsValidSubject(strings.Fields(r + " x")[0]) {
			return nil, fmt.Errorf("template %q generated invalid subject %q", subj, r)
		}
	}
	return results, nil
}

func templateValues(fn, arg string, uc *jwt.UserClaims, ac *jwt.AccountClaims) ([]string, error) {
	switch fn {
	case "name":
		return []string{uc.Name}, nil
	case "subject":
		return []string{uc.Subject}, nil
	case "account-name":
		return []string{ac.Name}, nil
	case "account-subject":
		return []string{ac.Subject}, nil
	case "tag":
		return tagValues(uc.Tags, arg, "tag")
	case "account-tag":
		return tagValues(ac.Tags, arg, "account-tag")
	}
	return nil, fmt.Errorf("template operation %q is not known", fn)
}

// tagValues returns the values of the key:value tags named key.
func tagValues(tags jwt.TagList, key, fn string) ([]string, error) {
	prefix := strings.ToLower(key) + ":"
	var out []string
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t), prefix) {
			out = append(out, t[len(prefix):])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("generated invalid subject: %s(%s) has no value", fn, key)
	}
	return out, nil
}

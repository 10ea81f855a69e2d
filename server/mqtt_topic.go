package server

import (
	"bytes"
	"errors"
)

// MQTT topics and NATS subjects, both ways, as the reference maps them:
//
//	MQTT            NATS
//	a/b             a.b        levels become tokens
//	/a              /.a        an empty level is the token "/"
//	a//b            a./.b
//	a.b             a//b       a dot inside a level is "//"
//	+               *          single-level wildcard (filters)
//	a/#             a.> and a  multi-level wildcard; "a/#" also matches "a"
//
// A topic with a space, or a level that holds NATS wildcards, has no
// subject and is refused.

var (
	errMQTTTopicEmpty    = errors.New("empty topic")
	errMQTTTopicInvalid  = errors.New("topic cannot be mapped to a subject")
	errMQTTFilterInvalid = errors.New("invalid topic filter")
)

// mqttTopicToSubject appends the subject of an MQTT topic name (no
// wildcards) or, with filter set, of a topic filter to dst.
func mqttTopicToSubject(dst, topic []byte, filter bool) ([]byte, error) {
	if len(topic) == 0 {
		return dst, errMQTTTopicEmpty
	}
	start := len(dst)
	level := 0
	for i := 0; i <= len(topic); i++ {
		if i < len(topic) && topic[i] != '/' {
			continue
		}
		lv := topic[level:i]
		if level > 0 {
			dst = append(dst, '.')
		}
		switch {
		case len(lv) == 0:
			dst = append(dst, '/')
		case filter && len(lv) == 1 && lv[0] == '+':
			dst = append(dst, '*')
		case filter && len(lv) == 1 && lv[0] == '#':
			if i != len(topic) {
				return dst[:start], errMQTTFilterInvalid
			}
			dst = append(dst, '>')
		default:
			for _, c := range lv {
				switch c {
				case '.':
					dst = append(dst, '/', '/')
				case ' ', '\t', '\r', '\n':
					return dst[:start], errMQTTTopicInvalid
				case '+', '#':
					return dst[:start], errMQTTFilterInvalid
				default:
					dst = append(dst, c)
				}
			}
			if len(lv) == 1 && (lv[0] == '*' || lv[0] == '>') {
				return dst[:start], errMQTTTopicInvalid
			}
		}
		level = i + 1
	}
	return dst, nil
}

// mqttSubjectToTopic appends the MQTT topic of a subject to dst.
func mqttSubjectToTopic(dst []byte, subject string) []byte {
	tok := 0
	for i := 0; i <= len(subject); i++ {
		if i < len(subject) && subject[i] != '.' {
			continue
		}
		t := subject[tok:i]
		if tok > 0 {
			dst = append(dst, '/')
		}
		if t != "/" {
			for j := 0; j < len(t); j++ {
				if t[j] == '/' && j+1 < len(t) && t[j+1] == '/' {
					dst = append(dst, '.')
					j++
					continue
				}
				dst = append(dst, t[j])
			}
		}
		tok = i + 1
	}
	return dst
}

// mqttFilterSubjects are the subjects a filter subscribes to: "a/#" is
// both "a.>" and "a" (the parent level matches too), "#" alone is ">".
func mqttFilterSubjects(filter []byte) ([]string, error) {
	subj, err := mqttTopicToSubject(nil, filter, true)
	if err != nil {
		return nil, err
	}
	out := []string{string(subj)}
	if len(subj) > 2 && bytes.HasSuffix(subj, []byte(".>")) {
		out = append(out, string(subj[:len(subj)-2]))
	}
	return out, nil
}

package server

import (
	"fmt"
	"reflect"
)

// Reloading the accounts block. A reload may add accounts, with their
// exports, imports, mappings and tracing, and change an account's
// mappings; users of the new accounts come with the authorization users
// (reloadAuth), checked once the accounts exist. Removing an account, or
// changing the exports, imports or tracing of one that exists, is refused
// with "not supported yet": those are read without a lock on the message
// path and set only before an account is in use.

// checkReloadAccounts refuses account changes a reload cannot apply.
func checkReloadAccounts(cur, next *Options) error {
	if reflect.DeepEqual(cur.Accounts, next.Accounts) {
		return nil
	}
	old := make(map[string]*AccountOpts, len(cur.Accounts))
	for _, ao := range cur.Accounts {
		old[ao.Name] = ao
	}
	seen := make(map[string]bool, len(next.Accounts))
	for _, ao := range next.Accounts {
		seen[ao.Name] = true
		prev, ok := old[ao.Name]
		if !ok && ao.Name == DEFAULT_GLOBAL_ACCOUNT {
			prev, ok = &AccountOpts{Name: ao.Name}, true // $G exists without a block
		}
		if ok && !reflect.DeepEqual(accountWiring(prev), accountWiring(ao)) {
			return fmt.Errorf("config reload not supported yet for accounts: the exports, imports or msg_trace of account %q changed", ao.Name)
		}
	}
	for _, ao := range cur.Accounts {
		if !seen[ao.Name] {
			return fmt.Errorf("config reload not supported yet for accounts: account %q removed", ao.Name)
		}
	}
	return checkImportCycles(next)
}

// accountWiring is what of an account a reload may not change, without the
// positions in the file (an account may move in it).
type accountWiringOpts struct {
	exports       []ExportOpts
	imports       []ImportOpts
	traceDest     string
	traceSampling int
}

func accountWiring(ao *AccountOpts) accountWiringOpts {
	w := accountWiringOpts{traceDest: ao.TraceDest, traceSampling: ao.TraceSampling}
	for _, ex := range ao.Exports {
		e := *ex
		e.pos = ""
		w.exports = append(w.exports, e)
	}
	for _, im := range ao.Imports {
		i := *im
		i.pos = ""
		w.imports = append(w.imports, i)
	}
	return w
}

// reloadAccounts registers the accounts a reload adds, with their exports
// first and then their imports (which may name each other), and applies
// every account's mappings.
func (s *Server) reloadAccounts(cur, next *Options) {
	known := make(map[string]bool, len(cur.Accounts))
	for _, ao := range cur.Accounts {
		known[ao.Name] = true
	}
	var added []*AccountOpts
	for _, ao := range next.Accounts {
		acc := s.gacc
		if ao.Name != DEFAULT_GLOBAL_ACCOUNT {
			acc = s.registerAccount(NewAccount(ao.Name))
		}
		if !known[ao.Name] && acc != s.gacc {
			acc.setConfigExports(ao)
			added = append(added, ao)
		}
		if err := acc.setMappings(ao.Mappings); err != nil {
			s.Errorf("Account %q: mappings not applied: %v", ao.Name, err)
		}
	}
	for _, ao := range added {
		acc, _ := s.LookupAccount(ao.Name)
		for _, im := range ao.Imports {
			if err := s.addImport(acc, im); err != nil {
				s.Errorf("%s: account %q: import not applied: %v", im.pos, ao.Name, err)
			}
		}
		if s.sys != nil && acc != s.sys.acc {
			s.addSystemImports(acc)
		}
	}
}

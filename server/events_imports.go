package server

// Every account imports a few services from the system account, as with the
// reference, so that its users can ask about themselves and their own
// account (`nats account info`, `nats account report connections|statistics`).
// The system account exports them with the importer's name as a subject
// token, and answers for that account only, whatever the request says.
//
// They are served by a subscription in the importing account that calls the
// system handler directly and answers into the importing account: the same
// exchange as a forwarded service import, without a response route per
// request.

// systemImport is one service an account imports from the system account.
type systemImport struct {
	local  string // what the importer's clients publish to
	remote string // the system account's subject; "%s" is the importer's name
	kind   string
	share  bool // the requester's identity goes with the request
}

var systemImports = []systemImport{
	{local: "$SYS.REQ.ACCOUNT.PING.CONNZ", remote: "$SYS.REQ.ACCOUNT.%s.CONNZ", kind: "CONNZ"},
	{local: "$SYS.REQ.SERVER.PING.CONNZ", remote: "$SYS.REQ.ACCOUNT.%s.CONNZ", kind: "CONNZ"},
	{local: "$SYS.REQ.ACCOUNT.PING.STATZ", remote: "$SYS.REQ.ACCOUNT.%s.STATZ", kind: "STATZ"},
	{local: "$SYS.REQ.USER.INFO", remote: "$SYS.REQ.USER.%s.INFO", kind: "USERINFO", share: true},
}

// systemExports are the system account's exports, in the reference's order.
var systemExports = []ExtExport{
	{Subject: "$SYS.REQ.ACCOUNT.*.CONNZ", Type: "service", ResponseType: "Streamed"},
	{Subject: "$SYS.REQ.ACCOUNT.*.STATZ", Type: "service", ResponseType: "Streamed"},
	{Subject: debugSubscribers, Type: "service", ResponseType: "Singleton"},
	{Subject: "$SYS.REQ.USER.*.INFO", Type: "service", ResponseType: "Singleton"},
}

// addSystemImports gives acc the system imports: all of them to an ordinary
// account, USER.INFO alone to the system account itself, whose users reach
// the rest directly. Accounts created after start-up must be given them too.
func (s *Server) addSystemImports(acc *Account) {
	for _, im := range s.systemImportsOf(acc) {
		h := sysUserInfo
		if im.kind != "USERINFO" {
			h = sysAccountRequests[im.kind]
		}
		name := acc.Name
		s.serveSysSubject(acc, im.local, im.kind, h, func(string) string { return name }, im.share)
	}
}

// systemImportsOf lists the system imports acc has.
func (s *Server) systemImportsOf(acc *Account) []systemImport {
	if s.sys == nil {
		return nil
	}
	if acc == s.sys.acc {
		return systemImports[len(systemImports)-1:]
	}
	return systemImports
}

// addSystemImportsToAll gives every account but the system one its imports.
func (s *Server) addSystemImportsToAll() {
	s.accounts.Range(func(_, v any) bool {
		if acc := v.(*Account); acc != s.sys.acc {
			s.addSystemImports(acc)
		}
		return true
	})
}

// ExtImport is an import in /accountz.
type ExtImport struct {
	Subject      string `json:"subject"`
	Account      string `json:"account"`
	To           string `json:"to,omitempty"`
	LocalSubject string `json:"local_subject,omitempty"`
	Type         string `json:"type"`
	Invalid      bool   `json:"invalid"`
	Share        bool   `json:"share"`
	Tracking     bool   `json:"tracking"`
}

// ExtExport is an export in /accountz.
type ExtExport struct {
	Subject      string   `json:"subject"`
	Type         string   `json:"type"`
	ResponseType string   `json:"response_type,omitempty"`
	Approved     []string `json:"approved_accounts,omitempty"`
}

// systemImportsInfo describes acc's system imports for /accountz.
func (s *Server) systemImportsInfo(acc *Account) []ExtImport {
	var out []ExtImport
	for _, im := range s.systemImportsOf(acc) {
		out = append(out, ExtImport{Subject: subjf(im.remote, acc.Name),
			Account: s.sys.acc.Name, To: im.local, LocalSubject: im.local, Type: "service", Share: im.share})
	}
	return out
}

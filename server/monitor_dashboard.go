package server

import (
	_ "embed"
	"html/template"
	"net/http"
)

// /dashboard: one server-rendered page with a small embedded script that
// polls the JSON endpoints next to it (relative URLs, so http_base_path
// applies) and draws rates and tables. No build step and no external
// asset: the script and the style sheet are inlined into the page.

//go:embed monitor_dashboard.js
var dashboardJS string

//go:embed monitor_dashboard.html
var dashboardHTML string

var dashboardTmpl = template.Must(template.New("dashboard").Parse(dashboardHTML))

// dashboardPage is what the template renders before the script runs.
type dashboardPage struct {
	Name, ID, Version, Uptime string
	Varz                      *Varz
	Links                     []dashboardLink
	Interval                  int // poll interval, milliseconds
	Script                    template.JS
}

type dashboardLink struct{ Title, Path string }

// Poll interval bounds: ?interval=<ms> picks one within them.
const (
	dashboardDefaultInterval = 1000
	dashboardMinInterval     = 100
	dashboardMaxInterval     = 60000
)

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	interval, err := queryInt(r, "interval", dashboardDefaultInterval)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	interval = min(max(interval, dashboardMinInterval), dashboardMaxInterval)
	v := s.Varz()
	page := dashboardPage{Name: v.Name, ID: v.ID, Version: v.Version, Uptime: v.Uptime, Varz: v,
		Interval: interval, Script: template.JS(dashboardJS)}
	for _, l := range indexLinks {
		if l.path != "dashboard" {
			page.Links = append(page.Links, dashboardLink{l.title, l.path})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := dashboardTmpl.Execute(w, &page); err != nil {
		s.Debugf("dashboard: %v", err)
	}
}

package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// page is what every template gets: who is signed in, where, in which
// language, and the page's own data in D. Its methods are the templates'
// helpers ({{$.T "key"}}).
type page struct {
	Lang  string
	Title string // message key
	// Flash is a message key said once after a change (?ok=).
	Flash string
	// Err is a failed change's message, in the page's language.
	Err string

	Session     mutualaid.Session
	Member      *linliv1.Member
	Actor       mutualaid.Member
	CSRF        string
	Community   *linliv1.Community
	Communities []*linliv1.Community
	Base        string // "/console/c/<c>/" on community pages
	Path        string // the request's path, for the language switch
	D           any

	loc *time.Location
	now time.Time
}

// newPage starts a page for r: its language (kept in a cookie when the
// switch was used) and the flash message.
func (c *Console) newPage(w http.ResponseWriter, r *http.Request) *page {
	lang, fromQuery := language(r)
	if fromQuery {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: Prefix, MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.cfg.Secure(r)})
	}
	p := &page{Lang: lang, Path: r.URL.Path, loc: c.cfg.Location, now: c.now()}
	if ok := r.URL.Query().Get("ok"); ok != "" {
		if _, known := messages[ok]; known {
			p.Flash = ok
		}
	}
	return p
}

// T translates a message key.
func (p *page) T(key string) string { return tr(p.Lang, key) }

// Tf translates a message key with arguments.
func (p *page) Tf(key string, args ...any) string { return fmt.Sprintf(tr(p.Lang, key), args...) }

// OtherLang is the language the switch offers.
func (p *page) OtherLang() string {
	if p.Lang == langEN {
		return langZH
	}
	return langEN
}

// Enum translates an enum value under a prefix ("urgency", "role", …).
func (p *page) Enum(prefix string, v interface{ String() string }) string {
	return p.T(enumKey(prefix, v))
}

// Category translates an item category key.
func (p *page) Category(key string) string { return categoryName(p.Lang, key) }

// Sign translates an emergency sign code.
func (p *page) Sign(code string) string { return signName(p.Lang, code) }

// Signs translates emergency sign codes, joined.
func (p *page) Signs(codes []string) string {
	out := make([]string, len(codes))
	for i, s := range codes {
		out[i] = p.Sign(s)
	}
	return strings.Join(out, p.T("list.sep"))
}

// ForWhom describes whom a request is for.
func (p *page) ForWhom(f *linliv1.ForWhom) string {
	s := p.Enum("whom", f.GetRecipient())
	if f.GetAgeMonths() > 0 {
		s += " · " + p.Tf("whom.months", f.GetAgeMonths())
	}
	if f.GetLivesAlone() {
		s += " · " + p.T("whom.alone")
	}
	return s
}

// Time shows a timestamp in the console's zone ("" if unset).
func (p *page) Time(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().In(p.loc).Format("2006-01-02 15:04")
}

// ISO is a timestamp for <time datetime>.
func (p *page) ISO(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().In(p.loc).Format(time.RFC3339)
}

// Since is how long ago ts was, for people.
func (p *page) Since(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return p.Duration(p.now.Sub(ts.AsTime()))
}

// Duration shows d in minutes, hours or days.
func (p *page) Duration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Hour:
		return p.Tf("dur.m", int(d/time.Minute))
	case d < 24*time.Hour:
		return p.Tf("dur.h", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return p.Tf("dur.d", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// BuildingName is a building's name if the page knows it, else its id.
func (p *page) BuildingName(id string) string {
	if m, ok := p.D.(map[string]any); ok {
		if names, ok := m["BuildingNames"].(map[string]string); ok && names[id] != "" {
			return names[id]
		}
	}
	return id
}

// IsConsole reports whether a device is a console sign-in.
func (p *page) IsConsole(client string) bool { return strings.HasPrefix(client, consoleClientPrefix) }

// templates are the parsed pages, each with the layout.
type templates map[string]*template.Template

// parseTemplates parses every page in templates/ with layout.html and
// parts.html.
func parseTemplates() (templates, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
		"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
	out := templates{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || base == "parts" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// render writes page name (within the layout) with data.
func (c *Console) render(w http.ResponseWriter, r *http.Request, p *page, status int, name string, data any) {
	c.execute(w, r, p, status, name, "layout", data)
}

// renderPart writes one template of page name alone (a fragment).
func (c *Console) renderPart(w http.ResponseWriter, r *http.Request, p *page, name, part string, data any) {
	c.execute(w, r, p, http.StatusOK, name, part, data)
}

func (c *Console) execute(w http.ResponseWriter, r *http.Request, p *page, status int, name, entry string, data any) {
	p.D = data
	var b bytes.Buffer
	if err := c.tmpl[name].ExecuteTemplate(&b, entry, p); err != nil {
		c.log.ErrorContext(r.Context(), "render console page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// renderError shows an error page (or a bare message to a fragment
// request) with status.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, p *page, status int, key string) {
	if p == nil {
		p = c.newPage(w, r)
	}
	if r.Header.Get("X-Linli-Fragment") != "" || strings.HasSuffix(r.URL.Path, "/live") {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, p.T(key), status)
		return
	}
	p.Title = "error.title"
	c.render(w, r, p, status, "error", map[string]any{"Message": key})
}

// internal logs err and shows the internal error page.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, p *page, err error) {
	c.log.ErrorContext(r.Context(), "internal error", "path", r.URL.Path, "err", err)
	c.renderError(w, r, p, http.StatusInternalServerError, "error.internal")
}

// fail answers a refused call: a domain error's message (Chinese where the
// console knows its reason) on the error page with its status; anything
// else is internal.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, p *page, err error) {
	var status int
	switch mutualaid.ErrorCode(err) {
	case mutualaid.Invalid:
		status = http.StatusBadRequest
	case mutualaid.NotFound:
		status = http.StatusNotFound
	case mutualaid.Conflict:
		status = http.StatusConflict
	case mutualaid.Forbidden:
		status = http.StatusForbidden
	case mutualaid.Unauthenticated:
		c.signedOut(w, r, p, err)
		return
	default:
		c.internal(w, r, p, err)
		return
	}
	p.Err = domainMessage(p.Lang, err)
	p.Title = "error.title"
	c.render(w, r, p, status, "error", map[string]any{})
}

// domainMessage is a domain error's message for people in lang: the
// console's translation of its reason if it has one, else the domain's
// (English) message.
func domainMessage(lang string, err error) string {
	reason := mutualaid.ErrorReason(err)
	if _, ok := messages["reason."+reason]; ok && lang == langZH {
		return tr(lang, "reason."+reason)
	}
	if e, ok := errors.AsType[*mutualaid.Error](err); ok {
		return e.Message
	}
	return reason
}

package console

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Cookies. The session cookie holds the console device's session secret
// (a refresh token that the console presents and never trades); the
// sign-in cookie a random value the sign-in form must echo (no login
// CSRF). Both HttpOnly, SameSite=Strict, Path=/console/.
const (
	sessionCookie = "linli_console"
	signInCookie  = "linli_signin"
)

// consoleClientPrefix starts the client id of every console sign-in, so
// that staff tell them from their phones in the device list.
const consoleClientPrefix = "console-"

// handler is a page handler for a signed-in staff member or admin.
type handler func(w http.ResponseWriter, r *http.Request, p *page)

// staff wraps h: the request must carry a live console session of a member
// who is staff or admin now (checked in the store on every request), and a
// state-changing request must come from the console itself (same origin,
// CSRF token). Otherwise the browser is sent to sign in, or refused.
func (c *Console) staff(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := c.newPage(w, r)
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			c.toSignIn(w, r, p, "")
			return
		}
		sess, m, err := c.session(r, ck.Value)
		if err != nil {
			c.signedOut(w, r, p, err)
			return
		}
		if !mutualaid.MemberOf(m).IsStaff() {
			// Demoted: the console session ends for good, now.
			if err := c.svc.SignOut(background(r), sess.UserID, sess.ClientID); err != nil {
				c.log.ErrorContext(r.Context(), "sign out a demoted member's console", "user", sess.UserID, "err", err)
			}
			c.clearSession(w, r)
			c.toSignIn(w, r, p, "signin.notstaff")
			return
		}
		p.Session, p.Member, p.Actor, p.CSRF = sess, m, mutualaid.MemberOf(m), csrfToken(ck.Value)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) || !validCSRF(r.PostFormValue("csrf"), p.CSRF) {
				c.renderError(w, r, p, http.StatusForbidden, "error.csrf")
				return
			}
		}
		h(w, r, p)
	}
}

// signedOut answers a request whose session has ended (or never was):
// the cookie goes, and the browser is sent to sign in.
func (c *Console) signedOut(w http.ResponseWriter, r *http.Request, p *page, err error) {
	if mutualaid.ErrorCode(err) != mutualaid.Unauthenticated {
		c.internal(w, r, p, err)
		return
	}
	c.clearSession(w, r)
	c.toSignIn(w, r, p, "signin.ended")
}

// toSignIn sends a page request to the sign-in page (coming back to it
// afterwards); anything else (a form, a fragment, a live stream) gets 401.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, p *page, msg string) {
	if r.Method != http.MethodGet || r.Header.Get("X-Linli-Fragment") != "" || strings.HasSuffix(r.URL.Path, "/live") {
		c.renderError(w, r, p, http.StatusUnauthorized, cmp.Or(msg, "signin.ended"))
		return
	}
	q := url.Values{}
	if msg != "" {
		q.Set("m", msg)
	}
	if r.URL.Path != Prefix {
		q.Set("next", r.URL.RequestURI())
	}
	http.Redirect(w, r, Prefix+"signin?"+q.Encode(), http.StatusSeeOther)
}

// sameOrigin reports whether a state-changing request comes from a page
// of this server: Sec-Fetch-Site (sent by every current browser) must say
// so, and an Origin header must name this host.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// csrfToken is the session's form token: a hash of its secret, which a
// page of another site cannot read.
func csrfToken(secret string) string {
	h := sha256.Sum256([]byte("linli console csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func validCSRF(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, Path
// /console/, Secure over https; maxAge 0 is a browser-session cookie,
// negative deletes it.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.cfg.Secure(r),
	})
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, r, sessionCookie, "", -1)
}

// signInPage shows the sign-in form.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r)
	c.renderSignIn(w, r, p, http.StatusOK, r.URL.Query().Get("m"), "")
}

func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, p *page, status int, msg, name string) {
	nonce := rand.Text()
	c.setCookie(w, r, signInCookie, nonce, 600)
	if _, ok := messages[msg]; !ok {
		msg = ""
	}
	next := r.URL.Query().Get("next")
	if next == "" {
		next = r.PostFormValue("next")
	}
	p.Title = "signin.title"
	c.render(w, r, p, status, "signin", map[string]any{"Nonce": nonce, "Message": msg, "Next": safeNext(next), "Name": name})
}

// safeNext keeps a return path only if it is a console page.
func safeNext(s string) string {
	if strings.HasPrefix(s, Prefix) && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\r\n") {
		return s
	}
	return ""
}

// signIn redeems a device code (or a staff join code) for a console
// session: the member must be staff or admin, checked by the domain before
// anything is used up.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r)
	ck, err := r.Cookie(signInCookie)
	if !sameOrigin(r) || err != nil || !validCSRF(r.PostFormValue("nonce"), ck.Value) {
		c.renderSignIn(w, r, p, http.StatusForbidden, "signin.expired", "")
		return
	}
	if ok, _ := c.cfg.SignInAllowed(r); !ok {
		c.renderSignIn(w, r, p, http.StatusTooManyRequests, "signin.limited", "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	m, err := c.svc.Join(r.Context(), mutualaid.JoinForm{Code: r.PostFormValue("code"), DisplayName: name, StaffOnly: true})
	if err != nil {
		msg := "signin.invalid"
		switch mutualaid.ErrorReason(err) {
		case "not_staff":
			msg = "signin.staffonly"
		case "display_name_required":
			msg = "signin.needname"
		case "join_code_invalid":
		default:
			if mutualaid.ErrorCode(err) == "" {
				c.internal(w, r, p, err)
				return
			}
		}
		c.renderSignIn(w, r, p, http.StatusUnauthorized, msg, name)
		return
	}
	client := consoleClientPrefix + strings.ToLower(rand.Text()[:12])
	secret, _, err := c.svc.StartSessionFor(r.Context(), m.GetCommunityId(), m.GetUserId(), client, c.cfg.SessionTTL)
	if err != nil {
		c.internal(w, r, p, err)
		return
	}
	c.log.InfoContext(r.Context(), "console sign-in", "community", m.GetCommunityId(), "user", m.GetUserId(), "client", client)
	c.setCookie(w, r, sessionCookie, secret, 0)
	c.setCookie(w, r, signInCookie, "", -1)
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = Prefix
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// home sends staff to their community's queue and admins to the list of
// communities.
func (c *Console) home(w http.ResponseWriter, r *http.Request, p *page) {
	if p.Actor.Role == mutualaid.RoleAdmin {
		http.Redirect(w, r, Prefix+"communities", http.StatusFound)
		return
	}
	http.Redirect(w, r, Prefix+"c/"+url.PathEscape(p.Actor.CommunityID)+"/queue", http.StatusFound)
}

// signOut ends this browser's session.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, p *page) {
	if err := c.svc.SignOut(r.Context(), p.Session.UserID, p.Session.ClientID); err != nil {
		c.internal(w, r, p, err)
		return
	}
	c.clearSession(w, r)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

// sessionsPage lists the member's devices: apps and console sign-ins.
func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, p *page) {
	devices, err := c.svc.Devices(p.Session.UserID)
	if err != nil {
		c.internal(w, r, p, err)
		return
	}
	p.Title = "sessions.title"
	c.render(w, r, p, http.StatusOK, "sessions", map[string]any{"Devices": devices})
}

// revokeSession signs one of the member's devices out.
func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request, p *page) {
	client := r.PostFormValue("client")
	if err := c.svc.RevokeDevice(r.Context(), p.Session.UserID, client); err != nil {
		c.fail(w, r, p, err)
		return
	}
	if client == p.Session.ClientID {
		c.clearSession(w, r)
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"sessions?ok=common.done", http.StatusSeeOther)
}

// communitiesPage lets an admin pick a community (staff see their own).
func (c *Console) communitiesPage(w http.ResponseWriter, r *http.Request, p *page) {
	cs, err := c.svc.StaffCommunities(p.Actor)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "communities.title"
	c.render(w, r, p, http.StatusOK, "communities", map[string]any{"Communities": cs})
}

// community wraps h for pages of community {c}: the actor must run it
// (the domain's rule: staff their own, admins every one).
func (c *Console) community(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, p *page) {
		id := r.PathValue("c")
		cs, err := c.svc.StaffCommunities(p.Actor)
		if err != nil {
			c.fail(w, r, p, err)
			return
		}
		i := slices.IndexFunc(cs, func(x *linliv1.Community) bool { return x.GetId() == id })
		if i < 0 {
			c.renderError(w, r, p, http.StatusForbidden, "error.forbidden")
			return
		}
		p.Community, p.Communities = cs[i], cs
		p.Base = Prefix + "c/" + url.PathEscape(id) + "/"
		h(w, r, p)
	}
}

// atoi reads a non-negative form or query integer (0 if absent or bad).
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// session returns the console session a cookie holds and its member as
// they stand now; in a cluster, one this node does not know yet is looked
// for again once it has caught up.
func (c *Console) session(r *http.Request, cookie string) (mutualaid.Session, *linliv1.Member, error) {
	for try := 0; ; try++ {
		sess, err := c.svc.SessionOf(r.Context(), cookie)
		var m *linliv1.Member
		if err == nil {
			m, err = c.svc.CurrentMember(sess.CommunityID, sess.UserID, sess.ClientID)
		}
		if err == nil || try > 0 || c.cfg.Barrier == nil || !c.cfg.Barrier(r.Context()) {
			return sess, m, err
		}
	}
}

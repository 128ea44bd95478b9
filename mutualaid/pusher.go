package mutualaid

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// PushConfig points the service at the operator's push gateway and Web
// Push keys. Without a gateway URL, PUSHER_KIND_HTTP pushers cannot be
// registered; without a VAPID key, PUSHER_KIND_WEBPUSH ones cannot.
type PushConfig struct {
	// GatewayURL is the push gateway speaking the Matrix Push Gateway API:
	// its base URL (…/_matrix/push/v1/notify is added) or that endpoint.
	GatewayURL string
	// VAPIDPrivateKey is the server's Web Push key, base64url (the P-256
	// private scalar, as GenerateVAPIDKeys makes it); the public key
	// is derived from it.
	VAPIDPrivateKey string
	// VAPIDSubject is the operator's contact the push services see:
	// "mailto:ops@example.org" or an https URL. Required with a VAPID key.
	VAPIDSubject string
	// WebPushHosts are the push services browsers' subscriptions may point
	// at: host names, or "*.example.com" for any subdomain. Default
	// DefaultWebPushHosts. Plain http is allowed only to a loopback host
	// listed here (tests and demos).
	WebPushHosts []string
	// Every is how often the notify job runs besides after commits.
	// Default 10 s.
	Every time.Duration
	// MinBackoff is the first retry delay of a failed send; default 1 s
	// (doubling to 5 min).
	MinBackoff time.Duration
	// HTTPClient sends notifications. Default: one with a 30 s timeout.
	HTTPClient *http.Client
	// OnAttempt, if set, is told the outcome of every send
	// (notify.OutcomeSent, OutcomeRetry, OutcomeRejected, OutcomeDropped),
	// for metrics.
	OnAttempt func(outcome string)
}

// DefaultWebPushHosts are the push services of the major browsers
// (Chrome and Edge through FCM, Firefox, Safari, Windows).
var DefaultWebPushHosts = []string{
	"fcm.googleapis.com", "updates.push.services.mozilla.com", "*.push.apple.com", "*.notify.windows.com",
}

// Check validates c. Errors name the setting.
func (c PushConfig) Check() error {
	if c.GatewayURL != "" {
		if u, err := url.Parse(c.GatewayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("push gateway URL %q: want an http(s) URL such as https://push.example.org", c.GatewayURL)
		}
	}
	if c.VAPIDPrivateKey == "" {
		return nil
	}
	if _, err := vapidPublicKey(c.VAPIDPrivateKey); err != nil {
		return fmt.Errorf("VAPID private key: %w", err)
	}
	if !strings.HasPrefix(c.VAPIDSubject, "mailto:") && !strings.HasPrefix(c.VAPIDSubject, "https://") {
		return fmt.Errorf("VAPID subject %q: want mailto:you@example.org or an https URL", c.VAPIDSubject)
	}
	return nil
}

// vapidPublicKey derives the base64url public key (uncompressed point)
// from a base64url private scalar.
func vapidPublicKey(private string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(private, "="))
	if err != nil {
		return "", errors.New("not base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return "", errors.New("not a P-256 private key")
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// GenerateVAPIDKeys makes a Web Push key pair: the base64url private
// scalar (PushConfig.VAPIDPrivateKey) and public key.
func GenerateVAPIDKeys() (private, public string, err error) {
	k, err := ecdh.P256().GenerateKey(nil)
	if err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.Bytes()), base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// newNotifier builds the notification outbox for the configured gateway
// and Web Push keys.
func (s *Service) newNotifier() *notify.Outbox {
	pc := s.cfg.Push
	opts := notify.OutboxOptions{
		Now: s.cfg.Now, Logger: s.cfg.Logger, Resolve: s.resolveGroup, Observe: pc.OnAttempt, MinBackoff: pc.MinBackoff,
	}
	if pc.GatewayURL != "" {
		opts.Gateway = &notify.Gateway{URL: pc.GatewayURL, Client: pc.HTTPClient}
	}
	if s.vapidPublic != "" {
		opts.WebPush = &notify.WebPush{
			VAPIDPublicKey: s.vapidPublic, VAPIDPrivateKey: pc.VAPIDPrivateKey, Subject: pc.VAPIDSubject,
			TTLSeconds: int((24 * time.Hour).Seconds()), Client: pc.HTTPClient,
		}
	}
	return notify.NewOutbox(s.store, opts)
}

// PushSettings says what the service can push to: a gateway (for
// PUSHER_KIND_HTTP), Web Push (PUSHER_KIND_WEBPUSH) with the VAPID public
// key browsers subscribe with, and the pusher of user's device client, if
// it has one.
//
// Errors: storage errors.
func (s *Service) PushSettings(userID, clientID string) (*linliv1.GetPushSettingsResponse, error) {
	out := &linliv1.GetPushSettingsResponse{
		Gateway: s.cfg.Push.GatewayURL != "", WebPush: s.vapidPublic != "", VapidPublicKey: s.vapidPublic,
	}
	if !validID(userID) || !validID(clientID) {
		return out, nil
	}
	p, ok, err := notify.PusherOf(s.store.Get, userID, clientID)
	if err != nil {
		return nil, fmt.Errorf("mutualaid: pusher of %s/%s: %w", userID, clientID, err)
	}
	if ok {
		out.Pusher = pusherProto(p)
	}
	return out, nil
}

// Limits of a pusher.
const (
	maxAppIDLen   = 64
	maxPushkeyLen = 512
	maxLangLen    = 16
	defaultLang   = "zh-CN"
)

// SetPusher registers p as the pusher of the member's device client,
// replacing its earlier one (and the registration of the same push key by
// any other device). It is removed when the device signs out or is
// revoked, or the member removed.
//
// Errors (*Error): Invalid kind_invalid, app_id_required /
// app_id_invalid, pushkey_required / pushkey_too_long / pushkey_invalid
// (an http pusher's key: printable ASCII; a Web Push endpoint: an https URL
// of an allowed push service), p256dh_invalid, auth_invalid, lang_invalid,
// quiet_hours_invalid; Conflict push_not_configured (no gateway, or no
// VAPID key, for that kind); Unauthenticated member_removed,
// session_revoked. Otherwise storage errors.
func (s *Service) SetPusher(ctx context.Context, member Member, clientID string, p *linliv1.Pusher) (*linliv1.Pusher, error) {
	rec, err := s.checkPusher(clientID, p)
	if err != nil {
		return nil, err
	}
	rec.Updated = s.now()
	err = s.update(ctx, "set pusher", func(tx *linlisync.Tx) error {
		if err := requireSignedIn(tx, member, clientID); err != nil {
			return err
		}
		return notify.SetPusherTx(tx, member.UserID, rec)
	})
	if err != nil {
		return nil, err
	}
	return pusherProto(rec), nil
}

// DeletePusher removes the pusher of the user's device client, if any:
// nothing more is sent to it. Errors: storage errors.
func (s *Service) DeletePusher(ctx context.Context, userID, clientID string) error {
	if !validID(userID) || !validID(clientID) {
		return nil
	}
	return s.update(ctx, "delete pusher", func(tx *linlisync.Tx) error {
		return notify.DeletePusherTx(tx, userID, clientID)
	})
}

// RunNotifications runs the notification outbox once: every device with
// events waiting gets its notification (or the one in flight again). It
// returns how many notifications the gateways took.
//
// Errors: ctx's, storage errors, failed sends (joined; each is recorded
// and retried with backoff).
func (s *Service) RunNotifications(ctx context.Context) (int, error) { return s.notifier.RunOnce(ctx) }

// NotificationsPending returns how many events wait to be sent (counting
// at most 1,000), for metrics. Errors: storage errors.
func (s *Service) NotificationsPending(ctx context.Context) (int, error) {
	return s.notifier.Pending(ctx)
}

// requireSignedIn refuses unless member is active and their device client
// is signed in.
func requireSignedIn(tx *linlisync.Tx, member Member, clientID string) error {
	if err := requireActiveMember(tx, member.CommunityID, member.UserID); err != nil {
		if ErrorCode(err) == NotFound {
			return errMemberRemoved()
		}
		return err
	}
	dev, ok, err := loadDevice(tx.Get, member.UserID, clientID)
	if err != nil {
		return err
	}
	if !ok || dev.Revoked {
		return ErrSessionRevoked
	}
	return nil
}

// checkPusher validates a pusher for device clientID and converts it.
func (s *Service) checkPusher(clientID string, p *linliv1.Pusher) (notify.Pusher, error) {
	rec := notify.Pusher{Client: clientID, Pushkey: p.GetPushkey(), Lang: p.GetLang()}
	if !validID(clientID) {
		return rec, Invalidf("client_id", "client_id_invalid", "client_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if rec.Lang == "" {
		rec.Lang = defaultLang
	}
	if len(rec.Lang) > maxLangLen || !allBytes(rec.Lang, func(c byte) bool { return isIDByte(c) && c != '_' }) {
		return rec, Invalidf("pusher.lang", "lang_invalid", "The language is a tag such as zh-CN or en.")
	}
	if q := p.GetQuietHours(); q != nil {
		rec.Quiet = &notify.QuietHours{Start: q.GetStart(), End: q.GetEnd(), Zone: q.GetTimeZone()}
		if err := rec.Quiet.Check(); err != nil {
			return rec, Invalidf("pusher.quiet_hours", "quiet_hours_invalid", "Quiet hours are two different times HH:MM and a known time zone.")
		}
	}
	switch p.GetKind() {
	case linliv1.PusherKind_PUSHER_KIND_HTTP:
		rec.Kind, rec.AppID = notify.KindHTTP, p.GetAppId()
		if s.cfg.Push.GatewayURL == "" {
			return rec, errPushNotConfigured()
		}
		switch {
		case rec.AppID == "":
			return rec, Invalidf("pusher.app_id", "app_id_required", "The app id is missing.")
		case len(rec.AppID) > maxAppIDLen || !allBytes(rec.AppID, func(c byte) bool { return isIDByte(c) || c == '.' }):
			return rec, Invalidf("pusher.app_id", "app_id_invalid", "The app id is 1 to 64 of A-Z a-z 0-9 . _ -")
		}
		if err := checkPushkey(rec.Pushkey); err != nil {
			return rec, err
		}
	case linliv1.PusherKind_PUSHER_KIND_WEBPUSH:
		rec.Kind, rec.P256dh, rec.Auth = notify.KindWebPush, p.GetP256Dh(), p.GetAuth()
		if s.vapidPublic == "" {
			return rec, errPushNotConfigured()
		}
		if err := checkPushkey(rec.Pushkey); err != nil {
			return rec, err
		}
		if !s.webPushEndpoint(rec.Pushkey) {
			return rec, Invalidf("pusher.pushkey", "pushkey_invalid", "This is not the endpoint of a push service this server sends to.")
		}
		if k, err := decodeB64URL(rec.P256dh); err != nil || len(k) != 65 {
			return rec, Invalidf("pusher.p256dh", "p256dh_invalid", "p256dh is the subscription's P-256 public key, base64url.")
		} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
			return rec, Invalidf("pusher.p256dh", "p256dh_invalid", "p256dh is the subscription's P-256 public key, base64url.")
		}
		if k, err := decodeB64URL(rec.Auth); err != nil || len(k) != 16 {
			return rec, Invalidf("pusher.auth", "auth_invalid", "auth is the subscription's 16-byte secret, base64url.")
		}
	default:
		return rec, Invalidf("pusher.kind", "kind_invalid", "Choose the kind of pusher: http or webpush.")
	}
	return rec, nil
}

// checkPushkey requires 1 to 512 printable ASCII characters.
func checkPushkey(k string) error {
	switch {
	case k == "":
		return Invalidf("pusher.pushkey", "pushkey_required", "The push key is missing.")
	case len(k) > maxPushkeyLen:
		return Invalidf("pusher.pushkey", "pushkey_too_long", "The push key is at most %d characters.", maxPushkeyLen)
	case !allBytes(k, func(c byte) bool { return c > ' ' && c < 0x7f }):
		return Invalidf("pusher.pushkey", "pushkey_invalid", "The push key is printable ASCII.")
	}
	return nil
}

// webPushEndpoint reports whether endpoint is an https URL (or http, on
// loopback) of one of the allowed push services.
func (s *Service) webPushEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	allowed := slices.ContainsFunc(s.webPushHosts(), func(h string) bool {
		h = strings.ToLower(h)
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			return strings.HasSuffix(host, "."+suffix)
		}
		return host == h
	})
	switch {
	case !allowed:
		return false
	case u.Scheme == "https":
		return true
	case u.Scheme == "http":
		ip := net.ParseIP(host)
		return host == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}

func (s *Service) webPushHosts() []string {
	if s.cfg.Push.WebPushHosts != nil {
		return s.cfg.Push.WebPushHosts
	}
	return DefaultWebPushHosts
}

func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func errPushNotConfigured() error {
	return Errorf(Conflict, "push_not_configured", "This server cannot send this kind of notification; ask its operator.")
}

// pusherProto is a stored pusher as the API shows it (without the Web
// Push secret).
func pusherProto(p notify.Pusher) *linliv1.Pusher {
	out := &linliv1.Pusher{AppId: p.AppID, Pushkey: p.Pushkey, P256Dh: p.P256dh, Lang: p.Lang, UpdatedAt: timestamppb.New(p.Updated)}
	switch p.Kind {
	case notify.KindHTTP:
		out.Kind = linliv1.PusherKind_PUSHER_KIND_HTTP
	case notify.KindWebPush:
		out.Kind = linliv1.PusherKind_PUSHER_KIND_WEBPUSH
	}
	if q := p.Quiet; q != nil {
		out.QuietHours = &linliv1.QuietHours{Start: q.Start, End: q.End, TimeZone: q.Zone}
	}
	return out
}

package sms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/haochaping/haochaping/internal/realip"
)

// The rating page: GET /r/{token} shows the five choices and a comment
// box, and never records anything (link scanners and chat previews open
// links by themselves); POST /r/{token} records once, with a nonce tied to
// the token (see csrf.go). With a fixed URL and typed codes, GET /r shows a
// form for the code and POST /r sends the citizen to the page of the
// invitation. Pages are plain HTML with inline CSS under a nonce, no
// script, nothing from elsewhere.

// Page limits, defaults of PageConfig.
const (
	DefaultPagePerIP    = 30
	DefaultPagePerToken = 10
	MaxPageComment      = 500
)

// PageConfig limits the rating page; requests are counted per minute in
// Redis, so the limits hold across processes. The address counted is
// realip.ClientIP's: behind a trusted proxy (http.trusted_proxies), the
// client's.
type PageConfig struct {
	PerIPPerMinute    int
	PerTokenPerMinute int
}

type pageState struct {
	cfg PageConfig
}

// SetPageConfig sets the page's limits (before serving).
func (s *Service) SetPageConfig(c PageConfig) {
	if c.PerIPPerMinute <= 0 {
		c.PerIPPerMinute = DefaultPagePerIP
	}
	if c.PerTokenPerMinute <= 0 {
		c.PerTokenPerMinute = DefaultPagePerToken
	}
	s.page = &pageState{cfg: c}
}

func (s *Service) pageCfg() PageConfig {
	if s.page == nil {
		s.SetPageConfig(PageConfig{})
	}
	return s.page.cfg
}

type choice struct {
	Digit int
	Word  string
}

type pageData struct {
	Kind     string // form, thanks, used, expired, invalid, limited, error, code
	Nonce    string // CSP nonce of the inline style
	Title    string
	Message  string
	Error    string
	Token    string
	Form     string // CSRF nonce
	CallDate string
	FollowUp bool
	Choices  []choice
	Selected int
	Comment  string
	Max      int
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<style nonce="{{.Nonce}}">
body{margin:0;font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f6f8;color:#1f2328;font-size:17px;line-height:1.5}
main{max-width:480px;margin:0 auto;padding:20px 16px}
h1{font-size:22px;margin:8px 0 16px}
.card{background:#fff;border-radius:12px;padding:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
fieldset{border:0;margin:0;padding:0}
legend{font-weight:600;margin-bottom:8px}
label.c{display:flex;align-items:center;gap:12px;padding:14px 12px;margin:8px 0;border:1px solid #d0d7de;border-radius:10px;background:#fff;min-height:24px}
label.c input{width:22px;height:22px;margin:0}
.d{display:inline-block;width:28px;height:28px;line-height:28px;text-align:center;border-radius:50%;background:#eef2f6;font-weight:700}
textarea{width:100%;box-sizing:border-box;min-height:96px;font-size:16px;padding:10px;border:1px solid #d0d7de;border-radius:10px}
input[type=text]{width:100%;box-sizing:border-box;font-size:20px;padding:12px;border:1px solid #d0d7de;border-radius:10px;letter-spacing:2px}
button{width:100%;margin-top:16px;padding:14px;font-size:18px;border:0;border-radius:10px;background:#0b6bcb;color:#fff}
.err{color:#b42318;margin:8px 0}
.muted{color:#57606a;font-size:14px}
</style>
</head>
<body><main>
{{if eq .Kind "form"}}
<h1>{{if .FollowUp}}请评价整改结果{{else}}请评价办理服务{{end}}</h1>
<div class="card">
<p class="muted">您{{.CallDate}}来电反映的事项{{if .FollowUp}}已整改{{end}}，请选择一项：</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/r/{{.Token}}">
<input type="hidden" name="nonce" value="{{.Form}}">
<fieldset><legend>满意度</legend>
{{range .Choices}}<label class="c"><input type="radio" name="level" value="{{.Digit}}" id="level{{.Digit}}"{{if eq $.Selected .Digit}} checked{{end}}><span class="d">{{.Digit}}</span><span>{{.Word}}</span></label>
{{end}}</fieldset>
<p><label for="comment">意见建议（选填）</label></p>
<textarea id="comment" name="comment" maxlength="{{.Max}}" placeholder="请填写您的意见（选填）">{{.Comment}}</textarea>
<button type="submit" id="submit">提交评价</button>
</form>
</div>
{{else if eq .Kind "code"}}
<h1>请输入评价码</h1>
<div class="card">
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/r">
<p><label for="code">短信中的评价码</label></p>
<input type="text" id="code" name="code" autocomplete="off" autocapitalize="characters" maxlength="20">
<button type="submit">下一步</button>
</form>
</div>
{{else}}
<h1>{{.Title}}</h1>
<div class="card"><p id="message">{{.Message}}</p></div>
{{end}}
</main></body></html>
`))

func (s *Service) render(w http.ResponseWriter, status int, d pageData) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	d.Nonce = base64.RawStdEncoding.EncodeToString(b[:])
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'nonce-"+d.Nonce+"'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if d.Title == "" {
		d.Title = "服务评价"
	}
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, d)
	s.m.pageResult(d.Kind)
}

func (s *Service) message(w http.ResponseWriter, status int, kind, title, msg string) {
	s.render(w, status, pageData{Kind: kind, Title: title, Message: msg})
}

func (s *Service) pageUsed(w http.ResponseWriter) {
	s.message(w, http.StatusOK, "used", "您已评价过", "您已评价过，感谢！")
}

func (s *Service) pageExpired(w http.ResponseWriter) {
	s.message(w, http.StatusGone, "expired", "链接已过期", "该评价链接已过期，感谢您的关注。如需评价，请拨打12345。")
}

func (s *Service) pageInvalid(w http.ResponseWriter) {
	s.message(w, http.StatusNotFound, "invalid", "链接无效", "该评价链接无效，请核对短信中的链接。")
}

func (s *Service) pageError(w http.ResponseWriter) {
	s.message(w, http.StatusInternalServerError, "error", "系统繁忙", "系统繁忙，请稍后再试。")
}

func (s *Service) pageLimited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "60")
	s.message(w, http.StatusTooManyRequests, "limited", "请求过于频繁", "请求过于频繁，请稍后再试。")
}

// allow counts a request against a per-minute limit; a Redis failure lets
// the request through (the page then fails on its own lookups anyway).
func (s *Service) allow(ctx context.Context, kind, key string, limit int) bool {
	minute := s.now().Unix() / 60
	k := s.k.rate(kind, key, minute)
	pipe := s.rdb.TxPipeline()
	n := pipe.Incr(ctx, k)
	pipe.Expire(ctx, k, 2*time.Minute)
	if _, err := pipe.Exec(ctx); err != nil {
		return true
	}
	return n.Val() <= int64(limit)
}

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// limited applies the per-address and per-token limits.
func (s *Service) limited(r *http.Request, token string) bool {
	cfg := s.pageCfg()
	if !s.allow(r.Context(), "ip", hashKey(realip.ClientIP(r)), cfg.PerIPPerMinute) {
		return true
	}
	return token != "" && !s.allow(r.Context(), "tok", hashKey(token), cfg.PerTokenPerMinute)
}

// lookupToken verifies a token and loads its invitation. The error is
// ErrTokenInvalid, ErrExpired or another (internal) error; the invitation
// is returned with ErrExpired when it exists.
func (s *Service) lookupToken(ctx context.Context, token string) (*Invitation, error) {
	now := s.now()
	c, verr := s.sig.Verify(token, now)
	if errors.Is(verr, ErrTokenInvalid) {
		return nil, ErrTokenInvalid
	}
	id, err := s.rdb.Get(ctx, s.k.tok(c.ID)).Result()
	if err != nil {
		if errors.Is(verr, ErrTokenExpired) {
			return nil, ErrExpired
		}
		if isNil(err) {
			return nil, ErrTokenInvalid
		}
		return nil, err
	}
	inv, err := s.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	if verr != nil || inv.Expired(now) {
		return inv, ErrExpired
	}
	return inv, nil
}

func isNil(err error) bool { return err != nil && err.Error() == "redis: nil" }

func choices() []choice {
	cs := make([]choice, 5)
	for i, l := range Levels() {
		cs[i] = choice{Digit: i + 1, Word: l.Chinese()}
	}
	return cs
}

func (s *Service) formData(inv *Invitation, token string) pageData {
	return pageData{Kind: "form", Title: "服务评价", Token: token, Form: s.sig.PageNonce(token, s.now()),
		CallDate: inv.CallDate, FollowUp: inv.Kind == KindFollowUp, Choices: choices(), Max: MaxPageComment}
}

// ServePage serves GET and POST /r/{token}.
func (s *Service) ServePage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if s.limited(r, token) {
		s.pageLimited(w)
		return
	}
	inv, err := s.lookupToken(r.Context(), token)
	switch {
	case inv != nil && inv.RatingID != "":
		s.pageUsed(w)
		return
	case errors.Is(err, ErrTokenInvalid):
		s.pageInvalid(w)
		return
	case errors.Is(err, ErrExpired):
		s.pageExpired(w)
		return
	case err != nil:
		s.log.Error("rating page lookup failed", "err", err)
		s.pageError(w)
		return
	}
	if r.Method != http.MethodPost {
		s.render(w, http.StatusOK, s.formData(inv, token))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, pageData{Kind: "invalid", Title: "请求无效", Message: "请求无效，请重新打开链接。"})
		return
	}
	if !s.sig.CheckPageNonce(token, r.PostForm.Get("nonce"), s.now()) {
		s.render(w, http.StatusForbidden, pageData{Kind: "csrf", Title: "页面已过期", Message: "页面已过期，请重新打开短信中的链接。"})
		return
	}
	d := s.formData(inv, token)
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	d.Comment = comment
	digit, _ := strconv.Atoi(r.PostForm.Get("level"))
	level, ok := LevelFromDigit(digit)
	if !ok {
		d.Error = "请选择一项满意度。"
		s.render(w, http.StatusBadRequest, d)
		return
	}
	d.Selected = digit
	if !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > MaxPageComment {
		d.Error = "意见建议最多" + strconv.Itoa(MaxPageComment) + "字。"
		s.render(w, http.StatusBadRequest, d)
		return
	}
	id, err := s.record(r.Context(), inv, ViaLink, level, comment)
	switch {
	case errors.Is(err, ErrAlreadyRated):
		s.pageUsed(w)
		return
	case err != nil:
		s.log.Error("rating page: record failed", "invitation_id", inv.ID, "err", err)
		s.pageError(w)
		return
	}
	if err := s.markRated(r.Context(), inv.ID, id, ViaLink, comment, level, nil); err != nil {
		s.log.Error("rating page: mark rated", "invitation_id", inv.ID, "err", err)
	}
	s.log.Info("rating page: rating recorded", "invitation_id", inv.ID, "rating_id", id, "level", level)
	s.message(w, http.StatusOK, "thanks", "感谢您的评价", "感谢您的评价！您的意见我们已收到。")
}

// ServeCode serves GET and POST /r: the form for a typed code, and the
// redirect to the invitation's page.
func (s *Service) ServeCode(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		if s.limited(r, "") {
			s.pageLimited(w)
			return
		}
		s.render(w, http.StatusOK, pageData{Kind: "code", Title: "服务评价"})
		return
	}
	if s.limited(r, "") {
		s.pageLimited(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	code, ok := NormalizeShortCode(r.PostForm.Get("code"))
	var id string
	var err error
	if ok {
		id, err = s.rdb.Get(r.Context(), s.k.code(code)).Result()
	}
	if !ok || isNil(err) {
		s.render(w, http.StatusNotFound, pageData{Kind: "code", Title: "服务评价", Error: "评价码无效，请核对后重新输入。"})
		return
	}
	if err != nil {
		s.pageError(w)
		return
	}
	inv, err := s.Get(r.Context(), id)
	if err != nil || inv.Token == "" {
		s.pageInvalid(w)
		return
	}
	http.Redirect(w, r, "/r/"+inv.Token, http.StatusSeeOther)
}

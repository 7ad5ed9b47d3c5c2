package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Console is the development provider: it "sends" by keeping the message
// in Redis, where the inbox page (/dev/sms) lists it with its link and a
// form to answer as the citizen. It is mounted only with provider console.
type Console struct {
	rdb redis.UniversalClient
	k   keys
	now func() time.Time
}

// NewConsole returns the console provider.
func NewConsole(rdb redis.UniversalClient, namespace string) *Console {
	return &Console{rdb: rdb, k: newKeys(namespace), now: time.Now}
}

// ConsoleMessage is a message the console provider kept.
type ConsoleMessage struct {
	ID   string    `json:"id"`
	To   string    `json:"to"`
	Text string    `json:"text"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// consoleKeep bounds the inbox.
const consoleKeep = 500

// Name is "console".
func (c *Console) Name() string { return "console" }

// Send keeps the message; its id is the outbox ID.
func (c *Console) Send(ctx context.Context, m OutMessage) ([]string, error) {
	b, _ := json.Marshal(ConsoleMessage{ID: m.ID, To: m.To, Text: m.Text, Kind: m.Kind, At: c.now()})
	pipe := c.rdb.TxPipeline()
	pipe.LPush(ctx, c.k.console(), b)
	pipe.LTrim(ctx, c.k.console(), 0, consoleKeep-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, Temporary(fmt.Errorf("console send: %w", err))
	}
	return []string{m.ID}, nil
}

// Messages returns the kept messages, newest first.
func (c *Console) Messages(ctx context.Context) ([]ConsoleMessage, error) {
	raw, err := c.rdb.LRange(ctx, c.k.console(), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]ConsoleMessage, 0, len(raw))
	for _, r := range raw {
		var m ConsoleMessage
		if json.Unmarshal([]byte(r), &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

var linkRE = regexp.MustCompile(`https?://[^\s，。]+`)

type inboxRow struct {
	ConsoleMessage
	Link string
}

var inboxTemplate = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SMS console (development)</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;margin:16px;max-width:900px}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}.warn{background:#fff3cd;padding:8px}input[type=text]{width:60%}</style>
</head><body>
<p class="warn">Development console provider: nothing is really sent. Not for production.</p>
<h1>SMS outbox (console)</h1>
<form method="post" action="/dev/sms/reply">
<p>Reply as the citizen: from <input name="from" size="14" value="{{.From}}"> text <input type="text" name="text"> <button type="submit">send reply</button></p>
</form>
{{if .Note}}<p class="warn">{{.Note}}</p>{{end}}
<table><tr><th>time</th><th>id</th><th>to</th><th>kind</th><th>text</th></tr>
{{range .Rows}}<tr><td>{{.At.Format "01-02 15:04:05"}}</td><td>{{.ID}}</td><td>{{.To}}</td><td>{{.Kind}}</td><td>{{.Text}}{{if .Link}}<br><a href="{{.Link}}">open link</a>{{end}}</td></tr>
{{end}}</table></body></html>
`))

// InboxHandler serves GET /dev/sms (the inbox) and POST /dev/sms/reply
// (a reply typed as the citizen, handed to in like a gateway's MO).
func (c *Console) InboxHandler(in Inbound) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/sms", func(w http.ResponseWriter, r *http.Request) {
		msgs, err := c.Messages(r.Context())
		if err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusInternalServerError)
			return
		}
		rows := make([]inboxRow, len(msgs))
		from := ""
		for i, m := range msgs {
			rows[i] = inboxRow{ConsoleMessage: m, Link: linkRE.FindString(m.Text)}
			if from == "" {
				from = m.To
			}
		}
		nonce := fmt.Sprintf("%x", c.now().UnixNano())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'nonce-"+nonce+"'; frame-ancestors 'none'")
		_ = inboxTemplate.Execute(w, map[string]any{"Rows": rows, "From": from, "Nonce": nonce, "Note": r.URL.Query().Get("note")})
	})
	mux.HandleFunc("POST /dev/sms/reply", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		_ = r.ParseForm()
		from, text := strings.TrimSpace(r.PostForm.Get("from")), r.PostForm.Get("text")
		if err := in.HandleMO(r.Context(), "console", MO{From: from, To: "12345", Text: text}); err != nil {
			http.Error(w, "reply failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/dev/sms?note=reply+received", http.StatusSeeOther)
	})
	return mux
}

// GatewayState is "console": nothing leaves the server.
func (c *Console) GatewayState() string { return "console" }

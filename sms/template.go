package sms

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// SMS sizes in UCS-2 code units (UTF-16; a character outside the BMP
// counts 2). The signature 【…】 counts like any other text.
const (
	// SingleLimit is the length of a message sent as one SMS.
	SingleLimit = 70
	// SegmentLimit is the length of each segment of a longer message, the
	// rest of the 140 octets holding the concatenation header (UDH).
	SegmentLimit = 67
)

// The default wording of DOMAIN.md with its placeholders. Rendered with
// DefaultSignature and the date 11月27日 they are the texts of DOMAIN.md:
// invitation 62, clarification 52, follow-up 57 characters.
const (
	DefaultSignature     = "【奉化12345】"
	DefaultInvitation    = "{signature}请评价您{date}来电的办理服务：回复1非常满意，2满意，3基本满意，4不满意，5非常不满意。回TD退订"
	DefaultClarification = "{signature}抱歉未能识别您的回复，请只回复一个数字：1非常满意2满意3基本满意4不满意5非常不满意"
	DefaultFollowUp      = "{signature}您反映的问题已整改，请评价整改结果：回1非常满意2满意3基本满意4不满意5非常不满意，回TD退订"
	DefaultAck           = "{signature}感谢您的评价！"

	// DefaultLinkLine and DefaultLinkMessage carry a per-recipient link:
	// the line is appended to the invitation when both fit or when the
	// link goes in the second segment; the message is sent on its own.
	DefaultLinkLine    = "评价链接：{link}"
	DefaultLinkMessage = "{signature}评价链接：{link} 回TD退订"
	// DefaultCodeLine and DefaultCodeMessage do the same for a fixed page
	// ({link} is then LinkConfig.FixedURL) and a typed short code.
	DefaultCodeLine    = "网页评价{link} 评价码{code}"
	DefaultCodeMessage = "{signature}网页评价请打开{link}输入评价码{code}，回TD退订"
)

// LinkMode says whether and how invitations offer the rating page; replying
// by digit is always possible.
type LinkMode string

// The link modes.
const (
	// LinkNone sends no link: reply by digit only (the default, since
	// carriers may reject per-recipient links).
	LinkNone LinkMode = "none"
	// LinkPerRecipient sends a signed per-invitation URL ({link}).
	LinkPerRecipient LinkMode = "link"
	// LinkFixedCode sends a fixed URL and a short code typed on the page
	// ({code}; {link} is the fixed URL).
	LinkFixedCode LinkMode = "code"
)

// LinkPlacement says what happens when the invitation and its link line do
// not fit in one 70-character SMS.
type LinkPlacement string

// The link placements.
const (
	// PlaceOwnMessage sends the link as a message of its own, after the
	// invitation (the default): two SMS, each complete.
	PlaceOwnMessage LinkPlacement = "own_message"
	// PlaceSecondSegment sends one concatenated message of two (or more)
	// segments, padded with spaces so that the link line lies whole inside
	// one segment.
	PlaceSecondSegment LinkPlacement = "second_segment"
)

// TemplateKind names a message the system sends.
type TemplateKind string

// The template kinds; invitations and follow-ups may carry the link.
const (
	KindInvitation    TemplateKind = "invitation"
	KindFollowUp      TemplateKind = "follow_up"
	KindClarification TemplateKind = "clarification"
	KindAck           TemplateKind = "ack"
)

// TemplateConfig is the wording of every message. Empty fields take the
// defaults above in one place, NewTemplates.
type TemplateConfig struct {
	// Signature is the sender signature, 【…】, put where a template says
	// {signature}.
	Signature     string
	Invitation    string
	FollowUp      string
	Clarification string
	Ack           string
	// LinkLine is the text appended to an invitation or follow-up to carry
	// the link or code; it is never cut by a segment boundary.
	LinkLine string
	// LinkMessage is the message that carries the link on its own
	// (PlaceOwnMessage); it needs a signature and the opt-out.
	LinkMessage string
	Link        LinkMode
	Placement   LinkPlacement
	// FixedURL is the rating page for LinkFixedCode, put where the link
	// templates say {link}.
	FixedURL string
}

// Vars are the values of a message's placeholders.
type Vars struct {
	// Date is the day of the call, as FormatDate writes it ({date}).
	Date string
	// Link is the per-recipient URL for LinkPerRecipient ({link}).
	Link string
	// Code is the short code for LinkFixedCode ({code}).
	Code string
}

// FormatDate writes a day as the templates say it: 11月27日. t should be in
// the hotline's time zone (Asia/Shanghai).
func FormatDate(t time.Time) string {
	return fmt.Sprintf("%d月%d日", t.Month(), t.Day())
}

// Message is one SMS as submitted to a gateway. Segments is how a message
// longer than SingleLimit is split and billed; a gateway that splits by
// itself splits at the same places unless a segment would end inside a
// surrogate pair.
type Message struct {
	Text     string
	Segments []string
}

// NewMessage returns the message of text with its segments.
func NewMessage(text string) Message { return Message{Text: text, Segments: Segments(text)} }

// Templates renders validated templates.
type Templates struct {
	cfg TemplateConfig
}

// NewTemplates applies the defaults to cfg, validates it and returns the
// renderer. Errors name the template at fault.
func NewTemplates(cfg TemplateConfig) (*Templates, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Templates{cfg: cfg}, nil
}

// Config returns the configuration in use, defaults applied.
func (t *Templates) Config() TemplateConfig { return t.cfg }

func (c TemplateConfig) withDefaults() TemplateConfig {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Signature, DefaultSignature)
	def(&c.Invitation, DefaultInvitation)
	def(&c.FollowUp, DefaultFollowUp)
	def(&c.Clarification, DefaultClarification)
	def(&c.Ack, DefaultAck)
	if c.Link == "" {
		c.Link = LinkNone
	}
	if c.Placement == "" {
		c.Placement = PlaceOwnMessage
	}
	switch c.Link {
	case LinkPerRecipient:
		def(&c.LinkLine, DefaultLinkLine)
		def(&c.LinkMessage, DefaultLinkMessage)
	case LinkFixedCode:
		def(&c.LinkLine, DefaultCodeLine)
		def(&c.LinkMessage, DefaultCodeMessage)
	}
	return c
}

// Validate checks a configuration with its defaults applied: the signature
// is 【…】; every message names the signature; invitations, follow-ups and
// the link message carry the opt-out 回TD退订 (or 回复TD退订); invitations,
// follow-ups and clarifications spell out every digit with its word (1非常满意
// … 5非常不满意) against the scale trap; only known placeholders are used,
// {link} and {code} only in the link templates, and there where the link
// mode needs them.
func (c TemplateConfig) Validate() error {
	if !validSignature(c.Signature) {
		return fmt.Errorf("sms templates: signature %q is not of the form 【…】", c.Signature)
	}
	switch c.Link {
	case LinkNone, LinkPerRecipient, LinkFixedCode:
	default:
		return fmt.Errorf("sms templates: unknown link mode %q", c.Link)
	}
	switch c.Placement {
	case PlaceOwnMessage, PlaceSecondSegment:
	default:
		return fmt.Errorf("sms templates: unknown link placement %q", c.Placement)
	}
	type spec struct {
		name      string
		text      string
		signature bool
		optOut    bool
		menu      bool
		link      bool // may hold {link} and {code}
	}
	specs := []spec{
		{"invitation", c.Invitation, true, true, true, false},
		{"follow_up", c.FollowUp, true, true, true, false},
		{"clarification", c.Clarification, true, false, true, false},
		{"ack", c.Ack, true, false, false, false},
	}
	if c.Link != LinkNone {
		specs = append(specs,
			spec{"link_line", c.LinkLine, false, false, false, true},
			spec{"link_message", c.LinkMessage, true, true, false, true})
		if c.Link == LinkFixedCode && c.FixedURL == "" {
			return errors.New("sms templates: link mode code needs a fixed URL")
		}
	}
	for _, s := range specs {
		if err := checkTemplate(s.text, s.signature, s.optOut, s.menu, s.link, c.Link); err != nil {
			return fmt.Errorf("sms template %s: %w", s.name, err)
		}
	}
	return nil
}

func validSignature(s string) bool {
	inner, ok := strings.CutPrefix(s, "【")
	if !ok {
		return false
	}
	inner, ok = strings.CutSuffix(inner, "】")
	return ok && inner != "" && !strings.ContainsAny(inner, "【】")
}

// placeholders are the names a template may use.
var placeholders = []string{"{signature}", "{date}", "{link}", "{code}"}

func checkTemplate(text string, signature, optOut, menu, link bool, mode LinkMode) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("is empty")
	}
	rest := text
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "")
	}
	if i := strings.IndexAny(rest, "{}"); i >= 0 {
		return fmt.Errorf("unknown placeholder near %q", rest[i:min(len(rest), i+12)])
	}
	if signature && !strings.Contains(text, "{signature}") && !hasBracketed(text) {
		return errors.New("has no signature: put {signature} or 【…】 in it")
	}
	if optOut && !strings.Contains(text, "回TD退订") && !strings.Contains(text, "回复TD退订") {
		return errors.New("has no opt-out 回TD退订")
	}
	if menu {
		for i, w := range levelWords {
			if item := fmt.Sprintf("%d%s", i+1, w); !strings.Contains(text, item) {
				return fmt.Errorf("does not spell out %s", item)
			}
		}
	}
	hasLink, hasCode := strings.Contains(text, "{link}"), strings.Contains(text, "{code}")
	switch {
	case !link && (hasLink || hasCode):
		return errors.New("may not hold {link} or {code}: the link goes in link_line or link_message, which are kept whole")
	case link && mode == LinkPerRecipient && !hasLink:
		return errors.New("link mode link needs {link}")
	case link && mode == LinkPerRecipient && hasCode:
		return errors.New("link mode link has no {code}")
	case link && mode == LinkFixedCode && !hasCode:
		return errors.New("link mode code needs {code}")
	}
	return nil
}

func hasBracketed(s string) bool {
	i := strings.Index(s, "【")
	if i < 0 {
		return false
	}
	j := strings.Index(s[i:], "】")
	return j > len("【")
}

// Render fills the placeholders of a template; unknown ones stay as they are.
func Render(template, signature string, v Vars) string {
	return strings.NewReplacer(
		"{signature}", signature,
		"{date}", v.Date,
		"{link}", v.Link,
		"{code}", v.Code,
	).Replace(template)
}

// Render returns the messages of kind for v: one SMS where it fits. For
// invitations and follow-ups in a link mode the link or code is laid out
// by Compose, so no segment boundary cuts it.
func (t *Templates) Render(kind TemplateKind, v Vars) ([]Message, error) {
	var tmpl string
	switch kind {
	case KindInvitation:
		tmpl = t.cfg.Invitation
	case KindFollowUp:
		tmpl = t.cfg.FollowUp
	case KindClarification:
		tmpl = t.cfg.Clarification
	case KindAck:
		tmpl = t.cfg.Ack
	default:
		return nil, fmt.Errorf("render sms: unknown template %q", kind)
	}
	body := Render(tmpl, t.cfg.Signature, v)
	if t.cfg.Link == LinkNone || (kind != KindInvitation && kind != KindFollowUp) {
		return []Message{NewMessage(body)}, nil
	}
	if t.cfg.Link == LinkFixedCode {
		v.Link = t.cfg.FixedURL
		if v.Code == "" {
			return nil, fmt.Errorf("render sms %s: no code", kind)
		}
	} else if v.Link == "" {
		return nil, fmt.Errorf("render sms %s: no link", kind)
	}
	line := Render(t.cfg.LinkLine, t.cfg.Signature, v)
	own := Render(t.cfg.LinkMessage, t.cfg.Signature, v)
	msgs, err := Compose(body, line, own, t.cfg.Placement)
	if err != nil {
		return nil, fmt.Errorf("render sms %s: %w", kind, err)
	}
	return msgs, nil
}

// ErrLinkTooLong is returned by Compose when the text carrying a link or
// code cannot be kept whole inside one SMS or one segment.
var ErrLinkTooLong = errors.New("link does not fit in one segment")

// linkSeparator goes between the body and the link line in one message.
const linkSeparator = " "

// Compose lays out a body and a link line that must never be cut by a
// segment boundary. If body, a space and line fit in SingleLimit they go
// as one SMS. Otherwise PlaceOwnMessage sends body, then own (the link
// message, at most SingleLimit), and PlaceSecondSegment sends one
// concatenated message in which spaces before the line move it whole into
// the next segment. An empty line means there is no link: body alone.
func Compose(body, line, own string, placement LinkPlacement) ([]Message, error) {
	if line == "" {
		return []Message{NewMessage(body)}, nil
	}
	one := body + linkSeparator + line
	if CountUCS2(one) <= SingleLimit {
		return []Message{NewMessage(one)}, nil
	}
	switch placement {
	case PlaceOwnMessage, "":
		if CountUCS2(own) > SingleLimit {
			return nil, fmt.Errorf("compose: link message of %d characters: %w", CountUCS2(own), ErrLinkTooLong)
		}
		return []Message{NewMessage(body), NewMessage(own)}, nil
	case PlaceSecondSegment:
		if CountUCS2(line) > SegmentLimit {
			return nil, fmt.Errorf("compose: link line of %d characters: %w", CountUCS2(line), ErrLinkTooLong)
		}
		pad := ""
		for range SegmentLimit + 1 {
			head := body + linkSeparator + pad
			text := head + line
			if !cutInside(Segments(text), len(head), len(text)) {
				return []Message{NewMessage(text)}, nil
			}
			pad += " "
		}
		return nil, fmt.Errorf("compose: %w", ErrLinkTooLong) // unreachable: a segment holds the line
	default:
		return nil, fmt.Errorf("compose: unknown link placement %q", placement)
	}
}

// cutInside reports whether a boundary between segs falls strictly inside
// the byte range [from, to) of their concatenation.
func cutInside(segs []string, from, to int) bool {
	end := 0
	for _, s := range segs[:len(segs)-1] {
		end += len(s)
		if from < end && end < to {
			return true
		}
	}
	return false
}

// CountUCS2 returns the length of s in UTF-16 code units, the unit SMS
// lengths are counted in: a character outside the BMP (most emoji) counts 2.
// Invalid UTF-8 counts one unit per byte, as it is sent as U+FFFD.
func CountUCS2(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++
		}
	}
	return n
}

// Segments splits s as it is sent: one message if it counts at most
// SingleLimit units, else segments of at most SegmentLimit units. A
// segment that would end between the two halves of a surrogate pair ends
// one unit earlier, so no character is ever split.
func Segments(s string) []string {
	if CountUCS2(s) <= SingleLimit {
		return []string{s}
	}
	var segs []string
	start, units := 0, 0
	for i, r := range s {
		l := utf16.RuneLen(r)
		if l < 0 || r == utf8.RuneError {
			l = 1
		}
		if units+l > SegmentLimit {
			segs = append(segs, s[start:i])
			start, units = i, 0
		}
		units += l
	}
	return append(segs, s[start:])
}

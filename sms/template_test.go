package sms

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultWording(t *testing.T) {
	v := Vars{Date: FormatDate(time.Date(2025, 11, 27, 9, 0, 0, 0, time.UTC))}
	for _, c := range []struct {
		tmpl, want string
		n          int
	}{
		{DefaultInvitation, "【奉化12345】请评价您11月27日来电的办理服务：回复1非常满意，2满意，3基本满意，4不满意，5非常不满意。回TD退订", 62},
		{DefaultClarification, "【奉化12345】抱歉未能识别您的回复，请只回复一个数字：1非常满意2满意3基本满意4不满意5非常不满意", 52},
		{DefaultFollowUp, "【奉化12345】您反映的问题已整改，请评价整改结果：回1非常满意2满意3基本满意4不满意5非常不满意，回TD退订", 57},
		{DefaultAck, "【奉化12345】感谢您的评价！", 16},
	} {
		got := Render(c.tmpl, DefaultSignature, v)
		if got != c.want || CountUCS2(got) != c.n {
			t.Errorf("Render = %q (%d), want %q (%d)", got, CountUCS2(got), c.want, c.n)
		}
	}
}

func TestCountUCS2(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "满意": 2, "😀": 2, "a😀b": 4, "\xff": 1} {
		if got := CountUCS2(s); got != want {
			t.Errorf("CountUCS2(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestSegments(t *testing.T) {
	seventy := strings.Repeat("字", 70)
	if got := Segments(seventy); len(got) != 1 {
		t.Errorf("70 units: %d segments", len(got))
	}
	got := Segments(seventy + "字")
	if len(got) != 2 || CountUCS2(got[0]) != 67 || CountUCS2(got[1]) != 4 {
		t.Errorf("71 units: %q", got)
	}
	// A surrogate pair across the 67th unit moves whole to the next segment.
	s := strings.Repeat("a", 66) + "😀" + strings.Repeat("b", 10)
	got = Segments(s)
	if len(got) != 2 || got[0] != strings.Repeat("a", 66) || !strings.HasPrefix(got[1], "😀") {
		t.Errorf("surrogate: %q", got)
	}
	if strings.Join(got, "") != s {
		t.Error("segments do not join to the text")
	}
	got = Segments(strings.Repeat("x", 200))
	if len(got) != 3 || CountUCS2(got[0]) != 67 || CountUCS2(got[1]) != 67 || CountUCS2(got[2]) != 66 {
		t.Errorf("200 units: %d segments", len(got))
	}
}

const testLink = "https://rate.example.cn/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 58 characters

func TestComposeFits(t *testing.T) {
	msgs, err := Compose("【奉化12345】请评价", "评价链接：https://x.cn/r/abc", "unused", PlaceOwnMessage)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "【奉化12345】请评价 评价链接：https://x.cn/r/abc" {
		t.Fatalf("Compose = %+v, %v", msgs, err)
	}
}

func TestComposeOwnMessage(t *testing.T) {
	tp, err := NewTemplates(TemplateConfig{Link: LinkPerRecipient})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := tp.Render(KindInvitation, Vars{Date: "11月27日", Link: "https://x.cn/r/" + strings.Repeat("A", 32)})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Segments) != 1 || CountUCS2(m.Text) > SingleLimit || !strings.HasPrefix(m.Text, DefaultSignature) {
			t.Errorf("message %q", m.Text)
		}
	}
	if !strings.Contains(msgs[1].Text, "https://x.cn/r/"+strings.Repeat("A", 32)) || !strings.Contains(msgs[1].Text, "回TD退订") {
		t.Errorf("link message %q", msgs[1].Text)
	}
}

func TestComposeSecondSegment(t *testing.T) {
	for _, mode := range []LinkMode{LinkPerRecipient, LinkFixedCode} {
		tp, err := NewTemplates(TemplateConfig{Link: mode, Placement: PlaceSecondSegment, FixedURL: "https://x.cn/p"})
		if err != nil {
			t.Fatal(err)
		}
		v := Vars{Date: "11月27日", Link: testLink, Code: "ABCDEFGHJ"}
		for _, kind := range []TemplateKind{KindInvitation, KindFollowUp} {
			msgs, err := tp.Render(kind, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || len(msgs[0].Segments) != 2 {
				t.Fatalf("%s %s: %+v", mode, kind, msgs)
			}
			want := v.Link
			if mode == LinkFixedCode {
				want = v.Code
			}
			if !strings.Contains(msgs[0].Segments[1], want) {
				t.Errorf("%s %s: second segment %q lacks %q", mode, kind, msgs[0].Segments[1], want)
			}
			if strings.Join(msgs[0].Segments, "") != msgs[0].Text {
				t.Error("segments do not join to the text")
			}
		}
	}
}

// TestComposeNeverCuts moves a link through every position around the
// segment boundaries, emoji included, and checks it always stays whole.
func TestComposeNeverCuts(t *testing.T) {
	line := "评价链接：" + testLink
	for n := 0; n < 140; n++ {
		for _, filler := range []string{"字", "😀"} {
			body := strings.Repeat(filler, n/len([]rune(filler)))
			msgs, err := Compose(body, line, "", PlaceSecondSegment)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, seg := range msgs[0].Segments {
				if CountUCS2(seg) > SegmentLimit && len(msgs[0].Segments) > 1 {
					t.Fatalf("segment of %d units", CountUCS2(seg))
				}
				found = found || strings.Contains(seg, line)
			}
			if !found {
				t.Fatalf("body %d×%s: link cut: %q", n, filler, msgs[0].Segments)
			}
		}
	}
}

func TestComposeTooLong(t *testing.T) {
	long := "评价链接：https://x.cn/" + strings.Repeat("a", 80)
	if _, err := Compose(strings.Repeat("字", 60), long, "", PlaceSecondSegment); !errors.Is(err, ErrLinkTooLong) {
		t.Errorf("second segment: %v", err)
	}
	if _, err := Compose(strings.Repeat("字", 60), long, "【x】"+long, PlaceOwnMessage); !errors.Is(err, ErrLinkTooLong) {
		t.Errorf("own message: %v", err)
	}
}

func TestTemplateValidation(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  TemplateConfig
		want string // in the error; "" for no error
	}{
		{"defaults", TemplateConfig{}, ""},
		{"link defaults", TemplateConfig{Link: LinkPerRecipient}, ""},
		{"code defaults", TemplateConfig{Link: LinkFixedCode, FixedURL: "https://x.cn/p"}, ""},
		{"literal signature", TemplateConfig{Ack: "【奉化12345】谢谢"}, ""},
		{"bad signature", TemplateConfig{Signature: "奉化12345"}, "signature"},
		{"empty signature", TemplateConfig{Signature: "【】"}, "signature"},
		{"invitation without signature", TemplateConfig{Invitation: strings.TrimPrefix(DefaultInvitation, "{signature}")}, "template invitation: has no signature"},
		{"invitation without opt-out", TemplateConfig{Invitation: strings.TrimSuffix(DefaultInvitation, "回TD退订")}, "template invitation: has no opt-out"},
		{"follow-up without opt-out", TemplateConfig{FollowUp: strings.TrimSuffix(DefaultFollowUp, "，回TD退订")}, "template follow_up: has no opt-out"},
		{"reversed menu", TemplateConfig{Clarification: "{signature}请回复：5非常满意4满意3基本满意2不满意1非常不满意"}, "template clarification: does not spell out 1非常满意"},
		{"link in invitation", TemplateConfig{Invitation: DefaultInvitation + "{link}", Link: LinkPerRecipient}, "template invitation: may not hold {link}"},
		{"unknown placeholder", TemplateConfig{Ack: "{signature}谢谢{name}"}, "template ack: unknown placeholder"},
		{"link line without link", TemplateConfig{Link: LinkPerRecipient, LinkLine: "评价："}, "template link_line: link mode link needs {link}"},
		{"link message without opt-out", TemplateConfig{Link: LinkPerRecipient, LinkMessage: "{signature}{link}"}, "template link_message: has no opt-out"},
		{"code message without code", TemplateConfig{Link: LinkFixedCode, FixedURL: "https://x.cn/p", LinkMessage: "{signature}{link} 回TD退订"}, "template link_message: link mode code needs {code}"},
		{"code without URL", TemplateConfig{Link: LinkFixedCode}, "fixed URL"},
		{"unknown mode", TemplateConfig{Link: "qr"}, "unknown link mode"},
		{"unknown placement", TemplateConfig{Placement: "third"}, "unknown link placement"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTemplates(c.cfg)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestRenderNeedsLink(t *testing.T) {
	tp, err := NewTemplates(TemplateConfig{Link: LinkPerRecipient})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Render(KindInvitation, Vars{Date: "1月2日"}); err == nil {
		t.Error("invitation without a link rendered")
	}
	msgs, err := tp.Render(KindClarification, Vars{})
	if err != nil || len(msgs) != 1 || msgs[0].Text != Render(DefaultClarification, DefaultSignature, Vars{}) {
		t.Errorf("clarification: %+v, %v", msgs, err)
	}
	if _, err := tp.Render("reminder", Vars{}); err == nil {
		t.Error("unknown kind rendered")
	}
}

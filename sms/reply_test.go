package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// replyCases is the table of real-looking replies; the benchmark and the
// fuzz seed corpus reuse it.
var replyCases = []struct {
	in      string
	kind    ReplyKind
	level   Level
	comment string
	reason  string
}{
	// Plain digits, in every width and shape.
	{"1", ReplyRating, VerySatisfied, "", ""},
	{"2", ReplyRating, Satisfied, "", ""},
	{"3", ReplyRating, BasicallySatisfied, "", ""},
	{"4", ReplyRating, Dissatisfied, "", ""},
	{"5", ReplyRating, VeryDissatisfied, "", ""},
	{"５", ReplyRating, VeryDissatisfied, "", ""},
	{" 1 ", ReplyRating, VerySatisfied, "", ""},
	{"1。", ReplyRating, VerySatisfied, "", ""},
	{"“2”", ReplyRating, Satisfied, "", ""},
	{"②", ReplyRating, Satisfied, "", ""},
	{"1\u200b", ReplyRating, VerySatisfied, "", ""},
	{"\ufeff3", ReplyRating, BasicallySatisfied, "", ""},
	{"1\ufe0f\u20e3", ReplyRating, VerySatisfied, "", ""},
	{"回复1", ReplyRating, VerySatisfied, "", ""},
	{"我选2", ReplyRating, Satisfied, "", ""},
	{"回复：4", ReplyRating, Dissatisfied, "", ""},
	// Digits with comments.
	{"4 等了两个小时", ReplyRating, Dissatisfied, "等了两个小时", ""},
	{"4等了两个小时", ReplyRating, Dissatisfied, "等了两个小时", ""},
	{"１，工作人员很耐心", ReplyRating, VerySatisfied, "工作人员很耐心", ""},
	{"5 非常不满意", ReplyRating, VeryDissatisfied, "", ""},
	{"5非常不满意，电话一直打不通", ReplyRating, VeryDissatisfied, "电话一直打不通", ""},
	{"1 非常满意，谢谢", ReplyRating, VerySatisfied, "谢谢", ""},
	{"1 很满意", ReplyRating, VerySatisfied, "很满意", ""},
	{"2 态度不错", ReplyRating, Satisfied, "态度不错", ""},
	{"4 一般", ReplyRating, Dissatisfied, "一般", ""},
	{"3 还行吧", ReplyRating, BasicallySatisfied, "还行吧", ""},
	{"5 问题还没解决", ReplyRating, VeryDissatisfied, "问题还没解决", ""},
	{"3 2号窗口的人态度不好", ReplyRating, BasicallySatisfied, "2号窗口的人态度不好", ""},
	{"2 满意度很高", ReplyRating, Satisfied, "满意度很高", ""},
	{"4 不是很满意", ReplyRating, Dissatisfied, "不是很满意", ""},
	// Chinese numerals.
	{"一", ReplyRating, VerySatisfied, "", ""},
	{"五", ReplyRating, VeryDissatisfied, "", ""},
	{"叁", ReplyRating, BasicallySatisfied, "", ""},
	{"肆，办得太慢", ReplyRating, Dissatisfied, "办得太慢", ""},
	{"二 满意", ReplyRating, Satisfied, "", ""},
	{"一非常满意", ReplyRating, VerySatisfied, "", ""},
	// Level words.
	{"满意", ReplyRating, Satisfied, "", ""},
	{"非常满意！", ReplyRating, VerySatisfied, "", ""},
	{"基本满意", ReplyRating, BasicallySatisfied, "", ""},
	{"不满意", ReplyRating, Dissatisfied, "", ""},
	{"非常不满意", ReplyRating, VeryDissatisfied, "", ""},
	{"非常不满意，推来推去", ReplyRating, VeryDissatisfied, "推来推去", ""},
	{"满意，谢谢你们", ReplyRating, Satisfied, "谢谢你们", ""},
	{"不满意 4", ReplyRating, Dissatisfied, "", ""},
	{"非常满意1", ReplyRating, VerySatisfied, "", ""},
	// Opt-out.
	{"TD", ReplyOptOut, "", "", ""},
	{"td", ReplyOptOut, "", "", ""},
	{" td ", ReplyOptOut, "", "", ""},
	{"TD。", ReplyOptOut, "", "", ""},
	{"ＴＤ", ReplyOptOut, "", "", ""},
	{"ｔｄ！", ReplyOptOut, "", "", ""},
	{"T", ReplyOptOut, "", "", ""},
	{"R", ReplyOptOut, "", "", ""},
	{"r", ReplyOptOut, "", "", ""},
	{"退订", ReplyOptOut, "", "", ""},
	{"退订！！", ReplyOptOut, "", "", ""},
	{"取消", ReplyOptOut, "", "", ""},
	{"拒收", ReplyOptOut, "", "", ""},
	{"STOP", ReplyOptOut, "", "", ""},
	{"Stop.", ReplyOptOut, "", "", ""},
	{"回TD", ReplyOptOut, "", "", ""},
	{"T D", ReplyOptOut, "", "", ""},
	// Not opt-out.
	{"T恤不错", ReplyAmbiguous, "", "T恤不错", ReasonUnscaledWord},
	{"取消评价可以吗", ReplyComment, "", "取消评价可以吗", ""},
	{"Tom", ReplyComment, "", "Tom", ""},
	{"TD1", ReplyComment, "", "TD1", ""},
	// Ambiguous: digit and word disagree (the scale trap).
	{"1 不满意", ReplyAmbiguous, "", "1 不满意", ReasonDigitWordConflict},
	{"5非常满意", ReplyAmbiguous, "", "5非常满意", ReasonDigitWordConflict},
	{"5 很好", ReplyAmbiguous, "", "5 很好", ReasonDigitWordConflict},
	{"5，服务很好，点赞", ReplyAmbiguous, "", "5，服务很好，点赞", ReasonDigitWordConflict},
	{"2 非常满意", ReplyAmbiguous, "", "2 非常满意", ReasonDigitWordConflict},
	{"5 不满意", ReplyAmbiguous, "", "5 不满意", ReasonDigitWordConflict},
	{"1 问题没解决", ReplyAmbiguous, "", "1 问题没解决", ReasonDigitWordConflict},
	{"1 一般", ReplyAmbiguous, "", "1 一般", ReasonDigitWordConflict},
	{"满意 5", ReplyAmbiguous, "", "满意 5", ReasonDigitWordConflict},
	{"五 非常满意", ReplyAmbiguous, "", "五 非常满意", ReasonDigitWordConflict},
	{"1 上次不满意这次满意", ReplyAmbiguous, "", "1 上次不满意这次满意", ReasonDigitWordConflict},
	{"满意，但是不太满意", ReplyAmbiguous, "", "满意，但是不太满意", ReasonWordConflict},
	// Ambiguous: stars and points.
	{"5星", ReplyAmbiguous, "", "5星", ReasonStars},
	{"五星好评", ReplyAmbiguous, "", "五星好评", ReasonStars},
	{"给你们五星", ReplyAmbiguous, "", "给你们五星", ReasonStars},
	{"5分", ReplyAmbiguous, "", "5分", ReasonStars},
	{"★★★★★", ReplyAmbiguous, "", "★★★★★", ReasonStars},
	{"1 五星", ReplyAmbiguous, "", "1 五星", ReasonStars},
	{"5 星", ReplyAmbiguous, "", "5 星", ReasonStars},
	{"三 星", ReplyAmbiguous, "", "三 星", ReasonStars},
	{"5👍", ReplyAmbiguous, "", "5👍", ReasonDigitWordConflict},
	{"5 👎", ReplyRating, VeryDissatisfied, "👎", ""},
	{"一，二", ReplyAmbiguous, "", "一，二", ReasonSeveralNumbers},
	{"4、5", ReplyAmbiguous, "", "4、5", ReasonSeveralNumbers},
	{"1、非常满意", ReplyRating, VerySatisfied, "", ""},
	{"3 很差", ReplyRating, BasicallySatisfied, "很差", ""},
	{"不是不满意", ReplyAmbiguous, "", "不是不满意", ReasonNegation},
	{"五一", ReplyComment, "", "五一", ""},
	// Ambiguous: out of range, several numbers.
	{"0", ReplyAmbiguous, "", "0", ReasonDigitOutOfRange},
	{"6", ReplyAmbiguous, "", "6", ReasonDigitOutOfRange},
	{"9", ReplyAmbiguous, "", "9", ReasonDigitOutOfRange},
	{"⑥", ReplyAmbiguous, "", "6", ReasonDigitOutOfRange},
	{"六", ReplyAmbiguous, "", "六", ReasonDigitOutOfRange},
	{"12", ReplyAmbiguous, "", "12", ReasonMultiDigit},
	{"55", ReplyAmbiguous, "", "55", ReasonMultiDigit},
	{"100", ReplyAmbiguous, "", "100", ReasonMultiDigit},
	{"13800138000", ReplyAmbiguous, "", "13800138000", ReasonMultiDigit},
	{"⑫", ReplyAmbiguous, "", "12", ReasonMultiDigit},
	{"1或2", ReplyAmbiguous, "", "1或2", ReasonSeveralNumbers},
	{"1 2", ReplyAmbiguous, "", "1 2", ReasonSeveralNumbers},
	{"2/3", ReplyAmbiguous, "", "2/3", ReasonSeveralNumbers},
	{"3到4之间", ReplyAmbiguous, "", "3到4之间", ReasonSeveralNumbers},
	{"1.5", ReplyAmbiguous, "", "1.5", ReasonSeveralNumbers},
	// Ambiguous: quantities and words glued to a digit.
	{"3天了还没人联系我", ReplyAmbiguous, "", "3天了还没人联系我", ReasonQuantity},
	{"2个小时才接通", ReplyAmbiguous, "", "2个小时才接通", ReasonQuantity},
	{"5G信号差", ReplyAmbiguous, "", "5G信号差", ReasonDigitInWord},
	// Ambiguous: words not at the start, unscaled, negated.
	{"我觉得不满意", ReplyAmbiguous, "", "我觉得不满意", ReasonWordNotAtStart},
	{"总体来说非常满意", ReplyAmbiguous, "", "总体来说非常满意", ReasonWordNotAtStart},
	{"很满意", ReplyAmbiguous, "", "很满意", ReasonUnscaledWord},
	{"十分满意", ReplyAmbiguous, "", "十分满意", ReasonUnscaledWord},
	{"特别满意！！", ReplyAmbiguous, "", "特别满意", ReasonUnscaledWord},
	{"好评", ReplyAmbiguous, "", "好评", ReasonUnscaledWord},
	{"差评", ReplyAmbiguous, "", "差评", ReasonUnscaledWord},
	{"一般", ReplyAmbiguous, "", "一般", ReasonUnscaledWord},
	{"一般般吧", ReplyAmbiguous, "", "一般般吧", ReasonUnscaledWord},
	{"一点都不满意", ReplyAmbiguous, "", "一点都不满意", ReasonUnscaledWord},
	{"不是很满意", ReplyAmbiguous, "", "不是很满意", ReasonNegation},
	{"不太满意", ReplyAmbiguous, "", "不太满意", ReasonNegation},
	{"我给3", ReplyAmbiguous, "", "我给3", ReasonDigitNotAtStart},
	// Comments: no rating signal.
	{"谢谢", ReplyComment, "", "谢谢", ""},
	{"好的", ReplyComment, "", "好的", ""},
	{"一直没人处理", ReplyComment, "", "一直没人处理", ""},
	{"两个小时才接通", ReplyComment, "", "两个小时才接通", ""},
	{"四等奖", ReplyComment, "", "四等奖", ""},
	{"请问我的事情什么时候办好？", ReplyComment, "", "请问我的事情什么时候办好", ""},
	{"等了2个小时", ReplyComment, "", "等了2个小时", ""},
	{"你们是哪里", ReplyComment, "", "你们是哪里", ""},
	// Empty.
	{"", ReplyEmpty, "", "", ""},
	{"   ", ReplyEmpty, "", "", ""},
	{"。。。", ReplyEmpty, "", "", ""},
	{"\u200b\u200d", ReplyEmpty, "", "", ""},
	{"\u3000", ReplyEmpty, "", "", ""},
}

func TestParseReply(t *testing.T) {
	for _, c := range replyCases {
		t.Run(c.in, func(t *testing.T) {
			got := ParseReply(c.in)
			want := Reply{Kind: c.kind, Level: c.level, Comment: c.comment, Reason: c.reason}
			if got != want {
				t.Errorf("ParseReply(%q) = %+v, want %+v", c.in, got, want)
			}
		})
	}
}

func TestReplyCasesCount(t *testing.T) {
	if len(replyCases) < 60 {
		t.Fatalf("only %d reply cases", len(replyCases))
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"ＡＢＣ１２３":          "ABC123",
		"a\u3000b":        "a b",
		"①②③④⑤":           "12345",
		"❶➀➊⓵⒈⑴":          "111111",
		"⑩⓪":              "100",
		"x\u200by\u2060z": "xyz",
		"\xff1":           "\ufffd1",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	for _, c := range replyCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := ParseReply(in)
		switch r.Kind {
		case ReplyRating:
			if !r.Level.Valid() {
				t.Fatalf("rating with invalid level %q", r.Level)
			}
		case ReplyAmbiguous:
			if r.Reason == "" || r.Level != "" {
				t.Fatalf("ambiguous reply %+v", r)
			}
		case ReplyComment, ReplyOptOut, ReplyEmpty:
			if r.Level != "" {
				t.Fatalf("%s with level %q", r.Kind, r.Level)
			}
		default:
			t.Fatalf("unknown kind %q", r.Kind)
		}
		if !utf8.ValidString(r.Comment) {
			t.Fatalf("comment is not UTF-8: %q", r.Comment)
		}
		if !strings.Contains(normalize(in), r.Comment) {
			t.Fatalf("comment %q is not part of %q", r.Comment, in)
		}
	})
}

func BenchmarkParseReply(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, c := range replyCases {
			ParseReply(c.in)
		}
		n += len(replyCases)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "replies/s")
}

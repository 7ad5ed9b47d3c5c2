package sms

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReplyKind says what a citizen's SMS reply is. Its values are stable and
// short enough to be metric labels.
type ReplyKind string

// The kinds of reply.
const (
	// ReplyEmpty is a reply with nothing left after normalisation (blank,
	// punctuation, zero-width characters only).
	ReplyEmpty ReplyKind = "empty"
	// ReplyRating is a reply that names exactly one level: Reply.Level is
	// valid and Reply.Comment holds the rest of the text.
	ReplyRating ReplyKind = "rating"
	// ReplyOptOut is an unsubscribe request (TD, T, R, 退订, 取消, 拒收, STOP).
	ReplyOptOut ReplyKind = "opt_out"
	// ReplyAmbiguous is a reply that looks like a rating but cannot be read
	// as exactly one level without guessing. Reply.Reason says why and
	// Reply.Comment holds the whole (normalised) text, to be kept as a
	// comment; the caller sends one clarification SMS per invitation.
	ReplyAmbiguous ReplyKind = "ambiguous"
	// ReplyComment is free text with no rating signal at all.
	ReplyComment ReplyKind = "comment"
)

// Reasons for ReplyAmbiguous. They name a rule, never the text, so they can
// be logged and counted without personal data.
const (
	// ReasonMultiDigit: a number of two or more digits at the start ("12",
	// "55", "100", "13800138000", "1.5").
	ReasonMultiDigit = "multi_digit"
	// ReasonDigitOutOfRange: 0, 6, 7, 8, 9 (or 零/六…十) as the answer.
	ReasonDigitOutOfRange = "digit_out_of_range"
	// ReasonSeveralNumbers: more than one choice ("1或2", "1 2", "2/3", "1-5").
	ReasonSeveralNumbers = "several_numbers"
	// ReasonDigitWordConflict: the digit and a rating word disagree
	// ("1 不满意", "5非常满意", "5 很好", "2 非常满意").
	ReasonDigitWordConflict = "digit_word_conflict"
	// ReasonWordConflict: the leading level word and a later word disagree
	// ("满意，但是很不满意").
	ReasonWordConflict = "word_conflict"
	// ReasonWordNotAtStart: a level word inside other text ("我觉得不满意").
	ReasonWordNotAtStart = "word_not_at_start"
	// ReasonDigitNotAtStart: a lone digit 1–5 inside other text ("我给3").
	ReasonDigitNotAtStart = "digit_not_at_start"
	// ReasonUnscaledWord: an opinion that is not one of the five words
	// ("很满意", "十分满意", "好评", "差评", "一般", "不错").
	ReasonUnscaledWord = "unscaled_word"
	// ReasonNegation: a negated opinion ("不是很满意", "不太满意").
	ReasonNegation = "negation"
	// ReasonStars: stars or points ("5星", "五星好评", "★★★", "5分").
	ReasonStars = "stars"
	// ReasonQuantity: the leading digit counts something ("3天了", "2个小时", "1楼").
	ReasonQuantity = "digit_is_quantity"
	// ReasonDigitInWord: the leading digit is part of a word ("5G", "4S店").
	ReasonDigitInWord = "digit_in_word"
)

// Reply is the meaning of one SMS reply.
type Reply struct {
	Kind ReplyKind
	// Level is set only for ReplyRating.
	Level Level
	// Comment is the free text of the reply, taken from the normalised
	// text: what follows the rating for ReplyRating (the rating itself and
	// an agreeing echo such as "5 非常不满意" removed), the whole text for
	// ReplyAmbiguous and ReplyComment, empty otherwise.
	Comment string
	// Reason is one of the Reason constants for ReplyAmbiguous, else "".
	Reason string
}

// ParseReply reads a citizen's SMS reply to an invitation. It never guesses:
// whatever cannot be read as exactly one level without doubt is
// ReplyAmbiguous. The steps, in order:
//
//  1. Normalise (see normalize): full-width to ASCII, circled and keycap
//     digits to digits, zero-width characters removed; then trim spaces
//     and punctuation at both ends. Nothing left: ReplyEmpty.
//  2. Opt-out first: the whole message, ignoring case, spaces and
//     punctuation and an optional leading 回/回复, is one of TD, T, R, 退订,
//     取消, 拒收, STOP. "R" alone is an opt-out because Chinese senders
//     advertise "回R退订" and R means nothing else in our menu; a reply that
//     merely contains one of these words ("T恤不错", "取消评价可以吗", "退订谢谢")
//     is not an opt-out and is parsed like any other text.
//  3. A leading choice: one ASCII digit (after an optional 回复/回/选/我选/选择),
//     or one Chinese numeral 一二三四五 / 壹贰叁肆伍 standing alone (followed
//     by the end, a space, punctuation or a level word: "一般", "一直", "四等"
//     are words, not numerals). 两 is not a numeral here: it counts things
//     (两个小时) and is never how a menu choice is named. 0, 6–9 and
//     零/六…十 are ReasonDigitOutOfRange; "12", "13800138000" ReasonMultiDigit;
//     a digit glued to a unit or letter ("3天", "1楼", "5G") is a quantity or
//     a word, not a choice; "5星", "5分", "五星" are ReasonStars.
//  4. Or a leading level word, longest first: 非常不满意, 非常满意, 基本满意,
//     不满意, 满意 (not 满意度). Opinions outside the scale — 很满意, 十分满意,
//     特别满意, 好评, 差评, 不错, 一般, 还行 — are ReasonUnscaledWord even at
//     the start, and negations (不是很满意, 不太满意) ReasonNegation: the
//     scale has no word for them and we do not round.
//  5. The rest of the text must agree with the choice. A second number
//     ("1或2", "1 2") is ReasonSeveralNumbers. A level word must name the
//     same level ("5 非常不满意" is a rating; "5非常满意" and "2 非常满意" are
//     ReasonDigitWordConflict); an opinion outside the scale must be on the
//     same side (1–2 satisfied, 4–5 dissatisfied; 一般/还行 fit 3 and 4; 3,
//     the middle of both scales, fits any opinion), so "5 很好" and
//     "1 问题没解决" — the star-scale trap — are ambiguous while "1 很满意，谢谢"
//     and "3 态度不好" are ratings. The text after the choice is the comment,
//     an echo of the same level ("5 非常不满意，太慢" → "太慢") removed.
//     Stars anywhere are ReasonStars. An opt-out word after a rating
//     ("5 TD") is only a comment: the rating counts and no opt-out is taken.
//  6. With no leading choice, any rating signal is ambiguous: a level word
//     or opinion inside text ("我觉得不满意"), stars, or a lone digit 1–5
//     ("我给3"). Text with none of these is ReplyComment.
func ParseReply(text string) Reply {
	t := trimSeps(normalize(text))
	if t == "" {
		return Reply{Kind: ReplyEmpty}
	}
	if isOptOut(t) {
		return Reply{Kind: ReplyOptOut}
	}
	return parse(t)
}

func ambiguous(t, reason string) Reply {
	return Reply{Kind: ReplyAmbiguous, Comment: t, Reason: reason}
}

func parse(t string) Reply {
	s := t // s is t without a "回复"-like prefix
	for _, p := range digitPrefixes {
		if rest, ok := strings.CutPrefix(t, p); ok {
			rest = skipSeps(rest)
			if rest != "" && isDigit(rest[0]) {
				s = rest
			}
			break
		}
	}

	// A leading ASCII digit.
	if isDigit(s[0]) {
		n := digitRun(s)
		if n > 1 {
			return ambiguous(t, ReasonMultiDigit)
		}
		if r := nextRune(s[1:]); r != 0 {
			switch {
			case isPointsStart(s[1:]):
				return ambiguous(t, ReasonStars)
			case r < utf8.RuneSelf && unicode.IsLetter(r):
				return ambiguous(t, ReasonDigitInWord)
			case isQuantityUnit(r):
				return ambiguous(t, ReasonQuantity)
			}
		}
		if isPointsStart(skipSeps(s[1:])) { // "5 星", "5 分"
			return ambiguous(t, ReasonStars)
		}
		d := int(s[0] - '0')
		l, ok := LevelFromDigit(d)
		if !ok {
			return ambiguous(t, ReasonDigitOutOfRange)
		}
		return withLead(t, len(t)-len(s)+1, l, false)
	}

	// A leading Chinese numeral standing alone.
	if d, size, ok := numeralAt(t, 0); ok {
		if isStarStart(skipSeps(t[size:])) { // "五星", "三 星"
			return ambiguous(t, ReasonStars)
		}
		l, ok := LevelFromDigit(d)
		if !ok {
			return ambiguous(t, ReasonDigitOutOfRange)
		}
		return withLead(t, size, l, false)
	}

	ms := scan(t, 0)
	for _, m := range ms {
		if m.class == classStars {
			return ambiguous(t, ReasonStars)
		}
	}
	if len(ms) > 0 {
		m := ms[0]
		switch {
		case m.start == 0 && m.exact():
			return withLead(t, m.end, m.level, true)
		case m.negated:
			return ambiguous(t, ReasonNegation)
		case m.class == classScale && !m.unscaled:
			return ambiguous(t, ReasonWordNotAtStart)
		default:
			return ambiguous(t, ReasonUnscaledWord)
		}
	}
	if hasLoneDigit(t) {
		return ambiguous(t, ReasonDigitNotAtStart)
	}
	return Reply{Kind: ReplyComment, Comment: t}
}

// withLead checks the text after a leading choice of level l (t[:end] is
// the digit, numeral or word) and returns the rating or why it is
// ambiguous. byWord tells whether the choice was a level word.
func withLead(t string, end int, l Level, byWord bool) Reply {
	conflict := ReasonDigitWordConflict
	if byWord {
		conflict = ReasonWordConflict
	}
	rest := t[end:]
	if isStarStart(rest) {
		return ambiguous(t, ReasonStars)
	}
	ms := scan(t, end)
	for _, m := range ms {
		if m.class == classStars {
			return ambiguous(t, ReasonStars)
		}
	}
	r := skipSeps(rest)
	commentFrom := len(t) - len(r)

	// A second number, with or without a connector.
	for _, c := range connectors {
		if after, ok := strings.CutPrefix(r, c); ok {
			after = skipSeps(after)
			if after != "" && (isDigit(after[0]) || isNumeralRune(nextRune(after))) {
				return ambiguous(t, ReasonSeveralNumbers)
			}
		}
	}
	if d, size, ok := choiceAt(t, commentFrom); ok {
		switch {
		case !byWord:
			return ambiguous(t, ReasonSeveralNumbers)
		case d < 1 || d > 5 || levels[d-1] != l:
			return ambiguous(t, ReasonDigitWordConflict)
		}
		commentFrom += size // "满意 2": an agreeing echo
	}

	for _, m := range ms {
		switch {
		case m.exact():
			if m.level != l {
				return ambiguous(t, conflict)
			}
			if m.start == commentFrom || m.start == len(t)-len(skipSeps(t[commentFrom:])) {
				commentFrom = m.end // "5 非常不满意": an agreeing echo
			}
		case !m.agrees(l):
			return ambiguous(t, conflict)
		}
	}
	return Reply{Kind: ReplyRating, Level: l, Comment: trimSeps(t[commentFrom:])}
}

// digitPrefixes may precede a leading digit ("回复1", "我选3").
var digitPrefixes = []string{"我选择", "回复", "选择", "我选", "回", "选"}

// connectors join two choices ("1或2", "3到4").
var connectors = []string{"或者", "或是", "还是", "或", "和", "跟", "与", "到", "至"}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// nextRune returns the first rune of s, or 0 if s is empty.
func nextRune(s string) rune {
	if s == "" {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// prevRune returns the last rune of s, or 0 if s is empty.
func prevRune(s string) rune {
	if s == "" {
		return 0
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// numerals are the Chinese numerals read as a menu choice; 6 and up are
// recognised only to be refused. 两 is deliberately absent.
var numerals = map[rune]int{
	'〇': 0, '零': 0,
	'一': 1, '壹': 1,
	'二': 2, '贰': 2, '貳': 2,
	'三': 3, '叁': 3, '參': 3,
	'四': 4, '肆': 4,
	'五': 5, '伍': 5,
	'六': 6, '陆': 6, '陸': 6,
	'七': 7, '柒': 7,
	'八': 8, '捌': 8,
	'九': 9, '玖': 9,
	'十': 10, '拾': 10,
}

func isNumeralRune(r rune) bool { _, ok := numerals[r]; return ok }

// numeralAt reports a Chinese numeral at t[i:] that stands alone: followed
// by the end, a separator, a digit, stars or a rating word. "一般", "一直",
// "五一", "四等" are not numerals.
func numeralAt(t string, i int) (d, size int, ok bool) {
	r, size := utf8.DecodeRuneInString(t[i:])
	d, ok = numerals[r]
	if !ok {
		return 0, 0, false
	}
	if i > 0 && !isSep(prevRune(t[:i])) {
		return 0, 0, false
	}
	next := t[i+size:]
	switch n := nextRune(next); {
	case n == 0, isSep(n), n < utf8.RuneSelf && unicode.IsDigit(n), isStarStart(next):
		return d, size, true
	}
	if m, ok := mentionAt(t, i+size); ok && m.class != classNeutral {
		return d, size, true
	}
	return 0, 0, false
}

// choiceAt reports a second choice at t[i:]: one ASCII digit or a lone
// numeral that is not glued to a unit, letter or another digit.
func choiceAt(t string, i int) (d, size int, ok bool) {
	if i >= len(t) {
		return 0, 0, false
	}
	if isDigit(t[i]) {
		if digitRun(t[i:]) > 1 {
			return 0, 0, false
		}
		n := nextRune(t[i+1:])
		if isPointsStart(t[i+1:]) {
			return 0, 0, false // stars, found by scan
		}
		if n == 0 || isSep(n) || !(n < utf8.RuneSelf && unicode.IsLetter(n)) && !isQuantityUnit(n) {
			return int(t[i] - '0'), 1, true
		}
		return 0, 0, false
	}
	return numeralAt(t, i)
}

// hasLoneDigit reports a single ASCII digit 1–5 with separators or the
// text's ends on both sides ("我给3", "选 2 吧").
func hasLoneDigit(t string) bool {
	for i := 0; i < len(t); i++ {
		if !isDigit(t[i]) {
			continue
		}
		n := digitRun(t[i:])
		if n == 1 && t[i] >= '1' && t[i] <= '5' {
			p, q := prevRune(t[:i]), nextRune(t[i+1:])
			pOK := p == 0 || isSep(p) || p >= utf8.RuneSelf
			qOK := q == 0 || isSep(q)
			if pOK && qOK {
				return true
			}
		}
		i += n - 1
	}
	return false
}

// quantityUnits follow a number that counts something; a leading digit
// glued to one of them is not a choice ("3天了", "2个小时", "1楼").
const quantityUnits = "号个次天点月日年楼元块岁人遍周位层栋路小钟秒倍成折米斤件份张条趟级期家名毛角室单组台辆%℃"

func isQuantityUnit(r rune) bool { return strings.ContainsRune(quantityUnits, r) }

// isStarStart reports stars right at the start of s: 星, 颗星, 个星, ★, ☆, ⭐.
func isStarStart(s string) bool {
	for _, p := range []string{"星", "颗星", "个星", "★", "☆", "⭐", "🌟"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isPointsStart reports stars or points after a digit: also 分 ("5分"),
// but not 分钟 (minutes). After a numeral 分 is not checked: 十分 is an adverb.
func isPointsStart(s string) bool {
	return isStarStart(s) || strings.HasPrefix(s, "分") && !strings.HasPrefix(s, "分钟")
}

// isSep reports runes trimmed at the ends of a reply and skipped between
// its parts: white space and punctuation.
func isSep(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f || unicode.IsPunct(r) || strings.ContainsRune("~`^|+=<>$", r)
	}
	if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII punctuation and symbols
		return isSep(r - 0xFEE0)
	}
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.Is(unicode.Cf, r)
}

func trimSeps(s string) string { return strings.TrimFunc(s, isSep) }

func skipSeps(s string) string { return strings.TrimLeftFunc(s, isSep) }

// optOutWords are compared after removing separators and upper-casing.
var optOutWords = []string{"TD", "T", "R", "STOP", "退订", "取消", "拒收"}

func isOptOut(t string) bool {
	var b strings.Builder
	for _, r := range t {
		if isSep(r) {
			continue
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	w := b.String()
	for _, p := range []string{"回复", "回"} {
		if rest, ok := strings.CutPrefix(w, p); ok && rest != "" {
			w = rest
			break
		}
	}
	for _, o := range optOutWords {
		if w == o {
			return true
		}
	}
	return false
}

// normalize maps what phones and input methods produce to the plain forms
// the parser reads:
//   - full-width digits and Latin letters to ASCII and the ideographic space
//     to a space, as NFKC does; full-width punctuation (，！？) is kept, so
//     comments read as written, and is a separator like its ASCII form;
//   - circled, parenthesised and dotted digits (①–⑳, ❶–❿, ➀–➓, ⑴–⒇, ⒈–⒛,
//     ⓪) to their decimal digits, so ⑥ and ⑫ are refused like 6 and 12;
//   - zero-width and format characters (U+200B–U+200F, U+2060, U+FEFF,
//     U+00AD), variation selectors and the keycap mark (so "1️⃣" is 1) removed;
//   - invalid UTF-8 to U+FFFD.
//
// Everything else, Chinese punctuation included, is kept as is; it is
// written by hand to keep this package free of dependencies.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９', r >= 'Ａ' && r <= 'Ｚ', r >= 'ａ' && r <= 'ｚ':
			b.WriteRune(r - 0xFEE0)
		case r == 0x3000:
			b.WriteByte(' ')
		case r >= 0x200B && r <= 0x200F, r == 0x2060, r == 0xFEFF, r == 0x00AD,
			r == 0xFE0E, r == 0xFE0F, r == 0x20E3:
			// dropped
		default:
			if n, ok := enclosedDigit(r); ok {
				writeInt(&b, n)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// enclosedDigit returns the number that an enclosed or dotted digit shows.
func enclosedDigit(r rune) (int, bool) {
	switch {
	case r >= 0x2460 && r <= 0x2473: // ①–⑳
		return int(r-0x2460) + 1, true
	case r >= 0x2474 && r <= 0x2487: // ⑴–⒇
		return int(r-0x2474) + 1, true
	case r >= 0x2488 && r <= 0x249B: // ⒈–⒛
		return int(r-0x2488) + 1, true
	case r >= 0x2776 && r <= 0x277F: // ❶–❿
		return int(r-0x2776) + 1, true
	case r >= 0x2780 && r <= 0x2789: // ➀–➉
		return int(r-0x2780) + 1, true
	case r >= 0x278A && r <= 0x2793: // ➊–➓
		return int(r-0x278A) + 1, true
	case r >= 0x24F5 && r <= 0x24FE: // ⓵–⓾
		return int(r-0x24F5) + 1, true
	case r == 0x24EA, r == 0x24FF: // ⓪ ⓿
		return 0, true
	}
	return 0, false
}

func writeInt(b *strings.Builder, n int) {
	if n >= 10 {
		b.WriteByte(byte('0' + n/10))
	}
	b.WriteByte(byte('0' + n%10))
}

// A mention is a rating signal found inside a reply: a level word, an
// opinion outside the scale, or stars.
type mention struct {
	start, end int // byte offsets in the text
	class      wordClass
	level      Level // for classScale
	polarity   int   // +1 satisfied side, -1 dissatisfied side, 0 neutral
	unscaled   bool  // a level word under an adverb: 很满意, 都不满意
	negated    bool  // under a negation: 不是很满意
}

type wordClass uint8

const (
	classScale   wordClass = iota + 1 // one of the five level words
	classOpinion                      // an opinion outside the scale: 好评, 很好, 差评
	classNeutral                      // 一般, 还行
	classStars                        // 5星, 五星, ★
)

// exact reports a plain level word, which names its level.
func (m mention) exact() bool { return m.class == classScale && !m.unscaled && !m.negated }

// agrees reports whether an inexact mention fits level l: same side of the
// scale, neutral words only beside 基本满意 and 不满意, and anything beside
// 基本满意, the middle of both the hotline and the star scale, which the
// scale trap therefore cannot turn round ("3 态度不好" is a rating).
func (m mention) agrees(l Level) bool {
	switch {
	case l == BasicallySatisfied:
		return true
	case m.polarity == 0:
		return l == Dissatisfied
	}
	return m.polarity == l.polarity()
}

// lexicon is matched longest first at each position.
var lexicon = []struct {
	word     string
	class    wordClass
	level    Level
	polarity int
}{
	{"非常不满意", classScale, VeryDissatisfied, -1},
	{"马马虎虎", classNeutral, "", 0},
	{"非常满意", classScale, VerySatisfied, 1},
	{"基本满意", classScale, BasicallySatisfied, 1},
	{"没有解决", classOpinion, "", -1},
	{"还没解决", classOpinion, "", -1},
	{"不满意", classScale, Dissatisfied, -1},
	{"非常好", classOpinion, "", 1},
	{"非常差", classOpinion, "", -1},
	{"一般般", classNeutral, "", 0},
	{"还可以", classNeutral, "", 0},
	{"没解决", classOpinion, "", -1},
	{"未解决", classOpinion, "", -1},
	{"满意", classScale, Satisfied, 1},
	{"好评", classOpinion, "", 1},
	{"很好", classOpinion, "", 1},
	{"挺好", classOpinion, "", 1},
	{"不错", classOpinion, "", 1},
	{"很棒", classOpinion, "", 1},
	{"点赞", classOpinion, "", 1},
	{"满分", classOpinion, "", 1},
	{"差评", classOpinion, "", -1},
	{"很差", classOpinion, "", -1},
	{"太差", classOpinion, "", -1},
	{"不好", classOpinion, "", -1},
	{"垃圾", classOpinion, "", -1},
	{"一般", classNeutral, "", 0},
	{"还行", classNeutral, "", 0},
	{"凑合", classNeutral, "", 0},
	{"👍", classOpinion, "", 1},
	{"👎", classOpinion, "", -1},
}

// adverbs before a level word take it off the scale (很满意, 都不满意,
// 十分满意); they may be stacked (一点都不满意).
var adverbs = []string{
	"一点", "十分", "特别", "比较", "有点", "有些", "相当", "还算", "极其", "超级", "真的", "基本", "怎么",
	"很", "都", "也", "还", "真", "好", "挺", "太", "超", "蛮", "最", "极", "更", "较", "特", "算", "够", "大",
}

// negations before an opinion turn it round (不是很满意, 不太满意, 不是不满意).
var negations = []string{"不是", "没有", "并不", "并非", "不", "没", "未"}

// mentionAt returns the mention that starts at t[i:], if any.
func mentionAt(t string, i int) (mention, bool) {
	s := t[i:]
	if s == "" {
		return mention{}, false
	}
	if isStarStart(s) && !strings.HasPrefix(s, "星") && !strings.HasPrefix(s, "颗星") && !strings.HasPrefix(s, "个星") {
		_, size := utf8.DecodeRuneInString(s)
		return mention{start: i, end: i + size, class: classStars}, true
	}
	for _, w := range lexicon {
		if !strings.HasPrefix(s, w.word) {
			continue
		}
		end := i + len(w.word)
		if w.class == classScale && strings.HasPrefix(t[end:], "度") {
			return mention{}, false // 满意度 is a noun
		}
		m := mention{start: i, end: end, class: w.class, level: w.level, polarity: w.polarity}
		pre := t[:i]
		for range 4 {
			trimmed := false
			for _, a := range adverbs {
				if p, ok := strings.CutSuffix(pre, a); ok {
					pre, trimmed, m.unscaled = p, true, true
					break
				}
			}
			if !trimmed {
				break
			}
		}
		for _, n := range negations {
			if strings.HasSuffix(pre, n) {
				m.negated = true
				m.polarity = -m.polarity
				break
			}
		}
		return m, true
	}
	return mention{}, false
}

// scan lists the mentions in t from byte offset from on; stars are a number
// or numeral followed by 星/颗星/个星 or, for digits, 分, and any ★ ☆ ⭐.
func scan(t string, from int) []mention {
	var ms []mention
	for i := from; i < len(t); {
		if isDigit(t[i]) {
			n := digitRun(t[i:])
			if isPointsStart(t[i+n:]) {
				ms = append(ms, mention{start: i, end: i + n, class: classStars})
			}
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		if isNumeralRune(r) || r == '两' || r == '半' {
			if rest := t[i+size:]; strings.HasPrefix(rest, "星") || strings.HasPrefix(rest, "颗星") || strings.HasPrefix(rest, "个星") {
				ms = append(ms, mention{start: i, end: i + size, class: classStars})
				i += size
				continue
			}
		}
		if m, ok := mentionAt(t, i); ok {
			ms = append(ms, m)
			i = m.end
			continue
		}
		i += size
	}
	return ms
}

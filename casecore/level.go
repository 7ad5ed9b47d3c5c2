package casecore

import (
	"fmt"
	"slices"
)

// Level is a rating level, kept by name everywhere; every numeric code is a
// per-channel mapping (see DOMAIN.md: the national online scale is reversed).
type Level string

// The five levels, best first.
const (
	VerySatisfied      Level = "very_satisfied"
	Satisfied          Level = "satisfied"
	BasicallySatisfied Level = "basically_satisfied"
	Dissatisfied       Level = "dissatisfied"
	VeryDissatisfied   Level = "very_dissatisfied"
)

// Levels lists the levels, best first (hotline keypad order 1…5).
var Levels = []Level{VerySatisfied, Satisfied, BasicallySatisfied, Dissatisfied, VeryDissatisfied}

var levelInfo = map[Level]struct {
	zh     string
	keypad int // hotline keypad and SMS digit
	gb     int // GB/T 39046 满意度代码
	zj     int // Zhejiang 办件评价 satisfaction (reversed)
}{
	VerySatisfied:      {"非常满意", 1, 1, 5},
	Satisfied:          {"满意", 2, 2, 4},
	BasicallySatisfied: {"基本满意", 3, 3, 3},
	Dissatisfied:       {"不满意", 4, 4, 2},
	VeryDissatisfied:   {"非常不满意", 5, 5, 1},
}

// Valid reports whether l is one of the five levels.
func (l Level) Valid() bool { _, ok := levelInfo[l]; return ok }

// Bad reports whether l is a 差评 (dissatisfied or very dissatisfied).
func (l Level) Bad() bool { return l == Dissatisfied || l == VeryDissatisfied }

// Satisfied reports whether l counts towards the satisfaction rate
// (very satisfied, satisfied, basically satisfied).
func (l Level) Satisfied() bool { return l.Valid() && !l.Bad() }

// Chinese returns the level's Chinese name (非常满意 …).
func (l Level) Chinese() string { return levelInfo[l].zh }

// Keypad returns the hotline keypad digit (1 = very satisfied … 5).
func (l Level) Keypad() int { return levelInfo[l].keypad }

// GBCode returns the GB/T 39046 满意度代码.
func (l Level) GBCode() int { return levelInfo[l].gb }

// ZhejiangSatisfaction returns the Zhejiang 办件评价 code, whose scale is reversed.
func (l Level) ZhejiangSatisfaction() int { return levelInfo[l].zj }

// LevelFromKeypad maps a hotline keypad digit 1…5 to a level.
func LevelFromKeypad(d int) (Level, error) {
	for _, l := range Levels {
		if levelInfo[l].keypad == d {
			return l, nil
		}
	}
	return "", fmt.Errorf("keypad digit %d is not a rating", d)
}

// Channel is where a rating came from (GB/T 39046 channel names plus ours).
type Channel string

// The channels.
const (
	ChannelHotlineIVR Channel = "hotline_ivr"
	ChannelHotlineSMS Channel = "hotline_sms"
	ChannelSMSLink    Channel = "sms_link"
	ChannelPC         Channel = "pc"
	ChannelMobile     Channel = "mobile"
	ChannelQR         Channel = "qr"
	ChannelHallTablet Channel = "hall_tablet"
	ChannelTerminal   Channel = "terminal"
	ChannelAPI        Channel = "api"
)

// Channels lists every channel.
var Channels = []Channel{ChannelHotlineIVR, ChannelHotlineSMS, ChannelSMSLink, ChannelPC,
	ChannelMobile, ChannelQR, ChannelHallTablet, ChannelTerminal, ChannelAPI}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return slices.Contains(Channels, c) }

// ZhejiangPF returns the Zhejiang interface's pf code for the channel:
// pc 1, mobile 2, QR 3, tablet 4, other terminal 5, SMS 6, system default 7.
// The hotline IVR is reported as "other terminal".
func (c Channel) ZhejiangPF() int {
	switch c {
	case ChannelPC:
		return 1
	case ChannelMobile:
		return 2
	case ChannelQR:
		return 3
	case ChannelHallTablet:
		return 4
	case ChannelTerminal, ChannelHotlineIVR:
		return 5
	case ChannelHotlineSMS, ChannelSMSLink:
		return 6
	default:
		return 7
	}
}

package dashboard

import (
	"github.com/haochaping/haochaping/casecore"
)

// The Chinese names shown on the pages. Codes stay in URLs and forms.
var (
	stateZh = map[casecore.State]string{
		casecore.StateOpen:            "待回访",
		casecore.StateCalledBack:      "已回访",
		casecore.StateAppealed:        "申诉待审核",
		casecore.StateRectifying:      "整改中",
		casecore.StateFollowupPending: "待追评",
		casecore.StateRereview:        "待整改复核",
		casecore.StateClosed:          "已办结",
		casecore.StateNotAdopted:      "不予采纳",
	}
	actionZh = map[casecore.Action]string{
		casecore.ActionCallback:     "登记回访",
		casecore.ActionAppeal:       "提出申诉",
		casecore.ActionAccept:       "确认差评并整改",
		casecore.ActionUphold:       "申诉成立（不予采纳）",
		casecore.ActionReject:       "驳回申诉",
		casecore.ActionRectify:      "提交整改结果",
		casecore.ActionRereviewPass: "复核通过，办结",
		casecore.ActionRereviewFail: "复核不通过，重新整改",
		casecore.ActionNote:         "添加备注",
	}
	historyZh = map[string]string{
		"opened":              "差评立案",
		"late_followup":       "逾期追评",
		"deadline_warning":    "期限预警",
		"deadline_overdue":    "已超期",
		"deadline_recomputed": "期限重算",
		"appeal_expired":      "申诉期满，确认差评",
		"followup_good":       "追评满意，办结",
		"followup_bad":        "追评不满意，转复核",
		"followup_expired":    "追评期满未评价，转复核",
	}
	clockZh = map[casecore.ClockKind]string{
		casecore.ClockCallback:      "差评回访",
		casecore.ClockAppeal:        "申诉期限",
		casecore.ClockAppealReview:  "申诉审核",
		casecore.ClockRectification: "整改",
		casecore.ClockFollowup:      "追评",
		casecore.ClockRereview:      "整改复核",
		casecore.ClockTextReview:    "文本审核",
	}
	channelZh = map[casecore.Channel]string{
		casecore.ChannelHotlineIVR: "12345热线语音",
		casecore.ChannelHotlineSMS: "短信回复",
		casecore.ChannelSMSLink:    "短信链接",
		casecore.ChannelPC:         "PC端",
		casecore.ChannelMobile:     "移动端（浙里办）",
		casecore.ChannelQR:         "二维码",
		casecore.ChannelHallTablet: "政务大厅评价器",
		casecore.ChannelTerminal:   "其他终端",
		casecore.ChannelAPI:        "系统接口",
	}
	// gbChannel is the 评价渠道 written to the GB/T 39046 export: the
	// standard's channel names (PC端, 移动端, 二维码, 政务大厅平板电脑, 其他终端,
	// 电话, 短信), mapped explicitly from our channels.
	gbChannel = map[casecore.Channel]string{
		casecore.ChannelHotlineIVR: "电话",
		casecore.ChannelHotlineSMS: "短信",
		casecore.ChannelSMSLink:    "短信",
		casecore.ChannelPC:         "PC端",
		casecore.ChannelMobile:     "移动端",
		casecore.ChannelQR:         "二维码",
		casecore.ChannelHallTablet: "政务大厅平板电脑",
		casecore.ChannelTerminal:   "其他终端",
		casecore.ChannelAPI:        "其他终端",
	}
	roleZh = map[casecore.Role]string{
		casecore.RoleAdmin:      "地区管理员",
		casecore.RoleHandler:    "单位处置员",
		casecore.RoleSupervisor: "监督（只读）",
		casecore.RoleSystem:     "系统",
		casecore.RoleIntake:     "接口",
	}
	auditZh = map[string]string{
		AuditLogin:       "登录",
		AuditLoginFailed: "登录失败",
		AuditLocked:      "账号锁定",
		AuditLogout:      "退出",
		AuditAction:      "案件操作",
		AuditTextReview:  "文本审核",
		AuditReveal:      "查看号码",
		AuditUser:        "账号管理",
		AuditExport:      "导出",
	}
	appealReasonZh = map[string]string{
		casecore.AppealMistaken:  "误评",
		casecore.AppealMalicious: "恶意差评",
	}
	// revealReasons are the reasons offered for revealing a number.
	revealReasons = []string{"差评回访", "核实评价", "整改反馈", "申诉核查"}
)

func zhOr[K comparable](m map[K]string, k K, fallback string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return fallback
}

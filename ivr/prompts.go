package ivr

import (
	"path/filepath"
	"slices"
)

// PromptID names a prompt the flow plays. The Call implementation maps it to
// audio, usually the file Config.PromptPath returns.
type PromptID string

// The prompts of the rating flows.
const (
	PromptWelcomeMenu     PromptID = "welcome_menu"
	PromptInvalid         PromptID = "invalid"
	PromptNoInput         PromptID = "no_input"
	PromptThanks          PromptID = "thanks"
	PromptGoodbyeNoRating PromptID = "goodbye_no_rating"
	PromptFollowupMenu    PromptID = "followup_menu"
)

// ChosenPrompt returns the prompt that announces level l: chosen_<level>.
func ChosenPrompt(l Level) PromptID { return PromptID("chosen_" + string(l)) }

// Prompt is one entry of the prompt catalogue.
type Prompt struct {
	ID   PromptID
	File string // file name inside the prompt directory
	Text string // what the recording says, for documentation and the generator
}

// The default wording (DOMAIN.md, "Default wording"). The follow-up menu spells
// out every digit with its word, as the plan's scale trap requires, where
// DOMAIN.md abbreviates it with "…".
const (
	menuChoices      = "非常满意请按1，满意请按2，基本满意请按3，不满意请按4，非常不满意请按5。"
	textWelcomeMenu  = "您好，请对刚才的服务进行评价。" + menuChoices
	textFollowupMenu = "您好，您此前反映的问题已经整改。请对整改结果进行评价：" + menuChoices
)

// defaultPrompts is the catalogue in the order of configs/prompts/zh-CN/prompts.tsv;
// a test keeps the two identical.
var defaultPrompts = []Prompt{
	{PromptWelcomeMenu, "welcome_menu.wav", textWelcomeMenu},
	{PromptInvalid, "invalid.wav", "输入有误。"},
	{PromptNoInput, "no_input.wav", "我们没有收到您的按键。"},
	{ChosenPrompt(VerySatisfied), "chosen_very_satisfied.wav", "您的评价是：非常满意。"},
	{ChosenPrompt(Satisfied), "chosen_satisfied.wav", "您的评价是：满意。"},
	{ChosenPrompt(BasicallySatisfied), "chosen_basically_satisfied.wav", "您的评价是：基本满意。"},
	{ChosenPrompt(Dissatisfied), "chosen_dissatisfied.wav", "您的评价是：不满意。"},
	{ChosenPrompt(VeryDissatisfied), "chosen_very_dissatisfied.wav", "您的评价是：非常不满意。"},
	{PromptThanks, "thanks.wav", "感谢您的评价，再见。"},
	{PromptGoodbyeNoRating, "goodbye_no_rating.wav", "感谢您的来电，稍后我们将通过短信邀请您评价，再见。"},
	{PromptFollowupMenu, "followup_menu.wav", textFollowupMenu},
}

// DefaultPrompts returns the default catalogue: every prompt the flows play,
// with its default file name and Mandarin text. The caller may modify the
// returned slice.
func DefaultPrompts() []Prompt { return slices.Clone(defaultPrompts) }

// defaultPromptFile returns the default file name of id, or "" if id is not in
// the catalogue.
func defaultPromptFile(id PromptID) string {
	for _, p := range defaultPrompts {
		if p.ID == id {
			return p.File
		}
	}
	return ""
}

// PromptPath returns the path of the file that holds prompt id: the override
// in c.PromptFiles if any, else the default file name, inside c.PromptDir
// (unless the override is an absolute path). It returns "" for an unknown id.
// Call it on a Config that went through WithDefaults.
func (c Config) PromptPath(id PromptID) string {
	file, ok := c.PromptFiles[id]
	if !ok {
		file = defaultPromptFile(id)
	}
	if file == "" {
		return ""
	}
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(c.PromptDir, file)
}

// PromptPaths returns the path of every prompt in the catalogue, for the
// Call implementation to load once at start-up.
func (c Config) PromptPaths() map[PromptID]string {
	m := make(map[PromptID]string, len(defaultPrompts))
	for _, p := range defaultPrompts {
		m[p.ID] = c.PromptPath(p.ID)
	}
	return m
}

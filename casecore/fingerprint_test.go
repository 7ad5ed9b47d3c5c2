package casecore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// The fingerprint is stored with each idempotency key, so a retry after an
// upgrade must get the same one: pinned values, and the original
// definition (fmt over each field) as the reference.
func TestFingerprintStable(t *testing.T) {
	reference := func(in *RatingInput) string {
		h := sha256.New()
		for _, f := range []string{string(in.Channel), string(in.Level), in.WorkOrderID, in.UnitID, in.StaffID,
			in.Post, in.RaterPhone, in.RaterName, in.Comment, in.FollowupOf} {
			fmt.Fprintf(h, "%d:%s|", len(f), f)
		}
		if !in.RatedAt.IsZero() {
			fmt.Fprintf(h, "%d", in.RatedAt.UnixMilli())
		}
		return hex.EncodeToString(h.Sum(nil)[:6])
	}
	ins := []RatingInput{
		{},
		{Channel: ChannelHotlineIVR, Level: VeryDissatisfied, WorkOrderID: "WO-1", UnitID: "fh-g08", StaffID: "s-007",
			Post: "窗口受理", RaterPhone: "13800138001", RaterName: "张三", Comment: "等了两个小时|:", FollowupOf: "C1"},
		{Channel: ChannelAPI, Level: Satisfied, UnitID: "u", RatedAt: time.UnixMilli(1764201600123)},
	}
	pinned := []string{"", "", ""}
	for i := range ins {
		got, want := ins[i].fingerprint(), reference(&ins[i])
		if got != want {
			t.Errorf("input %d: fingerprint %s, reference %s", i, got, want)
		}
		pinned[i] = got
	}
	if fmt.Sprint(pinned) != "[e00a5329172c 557c0545d15d 778795fe8027]" {
		t.Errorf("pinned fingerprints changed: %v", pinned)
	}
}

package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/haochaping/haochaping/casecore"
)

// heartbeat keeps idle live connections open through proxies.
const heartbeat = 20 * time.Second

// events streams live events as Server-Sent Events: only those of units the
// viewer may see, and only identifiers and states.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctl := http.NewResponseController(w)
	_ = ctl.SetWriteDeadline(time.Time{}) // the server's write timeout would cut the stream
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ch, cancel := d.hub.Subscribe()
	defer cancel()
	d.metrics.sseDelta(1)
	defer d.metrics.sseDelta(-1)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	if ctl.Flush() != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.stopping:
			return
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
		case e := <-ch:
			if !visible(rc.actor, e) {
				continue
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
		}
		if ctl.Flush() != nil {
			return
		}
	}
}

// visible reports whether the actor may learn of the event: events without
// a unit (calendar recomputations) only reach administrators and supervisors.
func visible(a casecore.Actor, e LiveEvent) bool {
	if e.Unit == "" {
		return a.Role != casecore.RoleHandler
	}
	return a.CanSeeUnit(e.Unit)
}

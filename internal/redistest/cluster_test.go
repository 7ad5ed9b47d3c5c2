package redistest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStartCluster checks the helper against the cluster it starts: the
// seed URL reaches every node, keys spread over the masters, NodeOf names
// the node that holds a key, and keys of one hash tag share a node.
func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3)
	ctx := context.Background()

	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatalf("ParseClusterURL(%s): %v", c.URL(), err)
	}
	if !reflect.DeepEqual(opts.Addrs, c.Addrs()) {
		t.Errorf("URL %s seeds %v, want %v", c.URL(), opts.Addrs, c.Addrs())
	}
	rdb := c.Client(t)
	used := map[string]bool{}
	for i := range 30 {
		k := fmt.Sprint("key-", i)
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		n := c.NodeOf(t, k)
		used[n.Addr] = true
		if got, err := n.Client(t).Get(ctx, k).Int(); err != nil || got != i {
			t.Errorf("%s on %s (slot %d): %d, %v; want %d", k, n.Addr, c.KeySlot(t, k), got, err, i)
		}
	}
	if len(used) != 3 {
		t.Errorf("30 keys landed on %d masters, want all 3", len(used))
	}

	// One hash tag: one slot, one node, and MULTI across the keys works.
	tx := rdb.TxPipeline()
	for i := range 5 {
		tx.Incr(ctx, fmt.Sprint("{tag}:", i))
	}
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatalf("MULTI on one hash tag: %v", err)
	}
	home := c.NodeOf(t, "{tag}:0")
	for _, n := range c.Nodes {
		keys, err := n.Client(t).Keys(ctx, "{tag}:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 5, false: 0}[n == home]; len(keys) != want {
			t.Errorf("node %s holds %d keys of {tag}, want %d", n.Addr, len(keys), want)
		}
	}
}

// TestClusterFailover checks the helpers for replicas and failover on a
// cluster of three masters with a replica each: every replica is attached,
// WaitReplicated leaves nothing behind on the replica, and after Kill of the
// master of a key's slot, WaitFailover names its replica as the new master
// within a bound, with the key's data there.
func TestClusterFailover(t *testing.T) {
	c := StartClusterWithReplicas(t, 3, 1)
	ctx := context.Background()

	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3:\n%s", len(masters), c.ClusterNodes(t))
	}
	seen := map[*Server]bool{}
	for _, m := range masters {
		seen[m] = true
		rs := c.ReplicasOf(t, m)
		if len(rs) != 1 {
			t.Fatalf("master %s has %d replicas, want 1:\n%s", m.Addr, len(rs), c.ClusterNodes(t))
		}
		seen[rs[0]] = true
		info, err := rs[0].Client(t).Info(ctx, "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := strings.Cut(m.Addr, ":")
		for _, want := range []string{"role:slave", "master_port:" + port, "master_link_status:up"} {
			if !strings.Contains(info, want) {
				t.Errorf("replica %s of %s: INFO replication lacks %q:\n%s", rs[0].Addr, m.Addr, want, info)
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("masters and their replicas are %d nodes, want all 6", len(seen))
	}

	// Writes reach the replica before the master dies.
	rdb := c.Client(t)
	for i := range 50 {
		if err := rdb.Set(ctx, fmt.Sprint("{tag}:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	old := c.NodeOf(t, "{tag}")
	replica := c.ReplicasOf(t, old)[0]
	c.WaitReplicated(t, old, 5*time.Second)
	if n, err := replica.Client(t).DBSize(ctx).Result(); err != nil || n != 50 {
		t.Fatalf("replica %s holds %d keys (%v) after WaitReplicated, want 50", replica.Addr, n, err)
	}

	c.Kill(t, old)
	if err := old.Client(t).Ping(ctx).Err(); err == nil {
		t.Fatalf("killed node %s still answers", old.Addr)
	}
	// Failure detection takes cluster-node-timeout, the election a second
	// or so more; ten times that is a bound no healthy machine reaches.
	bound := 10 * FailoverNodeTimeout
	got, took := c.WaitFailover(t, "{tag}", old, bound)
	t.Logf("slot of {tag} failed over from %s to %s in %s (cluster-node-timeout %s)", old.Addr, got.Addr, took, FailoverNodeTimeout)
	if got != replica {
		t.Errorf("new master %s, want the replica %s of the killed master", got.Addr, replica.Addr)
	}
	if n := c.NodeOf(t, "{tag}"); n != got {
		t.Errorf("NodeOf after the failover: %s, want %s", n.Addr, got.Addr)
	}
	if ms := c.Masters(t); len(ms) != 3 || !slices.Contains(ms, got) || slices.Contains(ms, old) {
		t.Errorf("masters after the failover: %v, want %s in place of %s", ms, got.Addr, old.Addr)
	}
	if v, err := got.Client(t).Get(ctx, "{tag}:49").Int(); err != nil || v != 49 {
		t.Errorf("{tag}:49 on the new master: %d, %v", v, err)
	}
	// A client that starts now finds the new master from the seeds, the
	// killed one among them.
	if err := c.Client(t).Incr(ctx, "{tag}:after").Err(); err != nil {
		t.Errorf("write after the failover: %v", err)
	}
}

func TestParseClusterNodes(t *testing.T) {
	const out = `07c3 127.0.0.1:30004@31004,host-4 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]
6ec2 127.0.0.1:30005@31005 master,fail - 1426238316232 1426238316232 5 disconnected
292f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16382 16383
`
	v, err := parseClusterNodes(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 5 {
		t.Fatalf("%d nodes, want 5", len(v))
	}
	if me := v.myself(); me.addr != "127.0.0.1:30001" || !me.isMaster() {
		t.Errorf("myself: %+v", me)
	}
	if r := v.byAddr("127.0.0.1:30004"); r == nil || !r.isReplica() || r.masterID != "e7d1" {
		t.Errorf("replica: %+v", r)
	}
	for _, tc := range []struct {
		slot int
		want string
	}{{0, "127.0.0.1:30001"}, {5460, "127.0.0.1:30001"}, {5461, "127.0.0.1:30002"}, {16382, "127.0.0.1:30003"}, {16383, "127.0.0.1:30003"}} {
		if m := v.slotMaster(tc.slot); m == nil || m.addr != tc.want {
			t.Errorf("slot %d on %v, want %s", tc.slot, m, tc.want)
		}
	}
	if err := checkShape(v, 4, 0); err == nil || !strings.Contains(err.Error(), "30005") {
		t.Errorf("checkShape with a failed node: %v", err)
	}
	if _, err := parseClusterNodes("e7d1 127.0.0.1:30001@31001 master - 0 0 1 connected 0-x\n"); err == nil {
		t.Error("a bad slot range parsed")
	}
}

package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters, with or without replicas, each
// node a redis-server started as Start starts one (loopback, free ports,
// its own temporary directory, stopped at cleanup).
type Cluster struct {
	// Nodes are every node, masters and replicas, in the order they were
	// started; which is which is the cluster's business (Masters, ReplicasOf).
	Nodes []*Server
	// killed are the nodes stopped by Kill, and when: the helpers ask the
	// others.
	killed map[*Server]time.Time
}

const (
	// clusterReadyTimeout bounds the wait for every node to report the
	// cluster healthy after redis-cli has assigned the slots.
	clusterReadyTimeout = 20 * time.Second
	// nodeTimeout is cluster-node-timeout of a cluster without replicas:
	// nothing can fail over, so a slow machine should not get a node marked
	// failed for a pause.
	nodeTimeout = 5 * time.Second
	// FailoverNodeTimeout is cluster-node-timeout of a cluster with replicas:
	// a master unreachable that long is marked failing, and a replica takes
	// over a second or two later, so a failover fits in a test.
	FailoverNodeTimeout = 1500 * time.Millisecond
)

// StartCluster starts masters cluster-enabled redis-servers, joins them
// with redis-cli --cluster create (the slots split evenly, no replicas) and
// waits until every node says cluster_state:ok. redis-cli wants at least 3
// masters. A missing redis-server or redis-cli fails the test.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	return StartClusterWithReplicas(t, masters, 0)
}

// StartClusterWithReplicas is StartCluster with replicas replicas of each
// master (masters×(1+replicas) nodes, redis-cli --cluster-replicas), and,
// when there are replicas, cluster-node-timeout FailoverNodeTimeout so that
// a master killed by Kill is replaced within seconds. It returns when every
// node says cluster_state:ok and every replica is attached to its master
// (CLUSTER NODES on every node, master_link_status:up on every replica).
func StartClusterWithReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest.StartCluster: %d masters; redis-cli --cluster create needs at least 3", masters)
	}
	if replicas < 0 {
		t.Fatalf("redistest.StartClusterWithReplicas: %d replicas", replicas)
	}
	timeout := nodeTimeout
	if replicas > 0 {
		timeout = FailoverNodeTimeout
	}
	cli := lookTool(t, "redis-cli", "redis-tools")
	c := &Cluster{killed: map[*Server]time.Time{}}
	for range masters * (1 + replicas) {
		c.Nodes = append(c.Nodes, start(t, func() []string {
			// The bus port defaults to port+10000, which may be taken or
			// above 65535: pick a free one. The node file is named after it
			// so that a failed attempt leaves no node file to the next one.
			bus := strconv.Itoa(freePort(t))
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + bus + ".conf",
				"--cluster-port", bus, "--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10)}
		}))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.waitOK(ctx, t)
	c.waitReplicas(ctx, t, masters, replicas)
	return c
}

// waitOK waits until every node reports cluster_state:ok and knows every
// other node, so that a client sees the same slot map whichever node it asks.
func (c *Cluster) waitOK(ctx context.Context, t testing.TB) {
	t.Helper()
	want := fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))
	for _, n := range c.Nodes {
		rdb := n.Client(t)
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, want) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("cluster node %s not ready within %s: %v\n%s", n.Addr, clusterReadyTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitReplicas waits until every node's CLUSTER NODES lists masters masters
// with replicas replicas each and no node failing or in handshake, and every
// replica has its link to the master up: a replica that has not synced yet
// cannot be elected when its master fails.
func (c *Cluster) waitReplicas(ctx context.Context, t testing.TB, masters, replicas int) {
	t.Helper()
	for _, n := range c.Nodes {
		rdb := n.Client(t)
		for {
			nodes, err := clusterNodes(ctx, rdb)
			if err == nil {
				err = checkShape(nodes, masters, replicas)
			}
			if err == nil && nodes.myself().isReplica() {
				var info string
				if info, err = rdb.Info(ctx, "replication").Result(); err == nil && !strings.Contains(info, "master_link_status:up") {
					err = fmt.Errorf("replica not in sync with its master:\n%s", info)
				}
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("cluster node %s: replicas not attached within %s: %v", n.Addr, clusterReadyTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// checkShape says why nodes is not masters masters of replicas replicas
// each, all healthy.
func checkShape(nodes clusterView, masters, replicas int) error {
	perMaster := map[string]int{}
	for _, n := range nodes {
		if n.has("fail") || n.has("fail?") || n.has("handshake") || n.has("noaddr") {
			return fmt.Errorf("node %s is %s", n.addr, strings.Join(n.flags, ","))
		}
		if n.isReplica() {
			perMaster[n.masterID]++
		}
	}
	got := 0
	for _, n := range nodes {
		if !n.isMaster() {
			continue
		}
		got++
		if perMaster[n.id] != replicas {
			return fmt.Errorf("master %s has %d replicas, want %d", n.addr, perMaster[n.id], replicas)
		}
	}
	if got != masters {
		return fmt.Errorf("%d masters, want %d", got, masters)
	}
	return nil
}

// Kill stops node n hard (SIGKILL), as a crash or a lost machine would,
// and returns when the process is gone. The helpers then ask the nodes
// still running.
func (c *Cluster) Kill(t testing.TB, n *Server) {
	t.Helper()
	if !slices.Contains(c.Nodes, n) {
		t.Fatalf("redistest.Cluster.Kill: %s is not a node of this cluster", n.Addr)
	}
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill redis-server %s: %v", n.Addr, err)
	}
	_ = n.cmd.Wait() // "signal: killed"; the cleanup's Kill and Wait then fail quietly
	c.killed[n] = time.Now()
}

// live returns the nodes not killed.
func (c *Cluster) live() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if _, ok := c.killed[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// server returns the node listening on addr, nil when none does.
func (c *Cluster) server(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// running returns a node not killed, the one the helpers ask.
func (c *Cluster) running(t testing.TB) *Server {
	t.Helper()
	live := c.live()
	if len(live) == 0 {
		t.Fatal("redistest: every node of the cluster is killed")
	}
	return live[0]
}

// view returns CLUSTER NODES as a node still running sees it.
func (c *Cluster) view(t testing.TB) clusterView {
	t.Helper()
	n := c.running(t)
	nodes, err := clusterNodes(context.Background(), n.Client(t))
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", n.Addr, err)
	}
	return nodes
}

// Masters returns the nodes that are masters and not failed, as a running
// node sees them.
func (c *Cluster) Masters(t testing.TB) []*Server {
	t.Helper()
	var out []*Server
	for _, n := range c.view(t) {
		if n.isMaster() && !n.has("fail") {
			out = append(out, c.mustServer(t, n.addr))
		}
	}
	return out
}

// ReplicasOf returns the replicas of master, as a running node sees them.
func (c *Cluster) ReplicasOf(t testing.TB, master *Server) []*Server {
	t.Helper()
	nodes := c.view(t)
	m := nodes.byAddr(master.Addr)
	if m == nil {
		t.Fatalf("node %s is not in CLUSTER NODES:\n%s", master.Addr, nodes)
	}
	var out []*Server
	for _, n := range nodes {
		if n.isReplica() && n.masterID == m.id {
			out = append(out, c.mustServer(t, n.addr))
		}
	}
	return out
}

func (c *Cluster) mustServer(t testing.TB, addr string) *Server {
	t.Helper()
	s := c.server(addr)
	if s == nil {
		t.Fatalf("CLUSTER NODES names %s, not a node of this cluster", addr)
	}
	return s
}

// ClusterNodes returns CLUSTER NODES as a running node answers it, with
// the nodes killed by Kill named, for failure messages.
func (c *Cluster) ClusterNodes(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, n := range c.Nodes {
		if at, ok := c.killed[n]; ok {
			fmt.Fprintf(&b, "(%s killed by the test at %s)\n", n.Addr, at.Format("15:04:05.000"))
		}
	}
	for _, n := range c.live() {
		out, err := n.Client(t).ClusterNodes(context.Background()).Result()
		if err != nil {
			fmt.Fprintf(&b, "CLUSTER NODES on %s: %v\n", n.Addr, err)
			continue
		}
		fmt.Fprintf(&b, "CLUSTER NODES on %s:\n%s", n.Addr, out)
		break
	}
	return b.String()
}

// WaitReplicated waits until every replica of master has applied all that
// master had written when it was called (its master_repl_offset against
// each replica's slave_repl_offset), so that killing master then loses
// nothing written before. It fails the test after within.
func (c *Cluster) WaitReplicated(t testing.TB, master *Server, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	replicas := c.ReplicasOf(t, master)
	if len(replicas) == 0 {
		t.Fatalf("master %s has no replica to wait for", master.Addr)
	}
	info, err := master.Client(t).Info(ctx, "replication").Result()
	if err != nil {
		t.Fatalf("INFO replication on %s: %v", master.Addr, err)
	}
	want, err := infoInt(info, "master_repl_offset")
	if err != nil {
		t.Fatalf("master %s: %v", master.Addr, err)
	}
	deadline := time.Now().Add(within)
	for _, r := range replicas {
		rdb := r.Client(t)
		for {
			info, err := rdb.Info(ctx, "replication").Result()
			var got int64
			if err == nil {
				got, err = infoInt(info, "slave_repl_offset")
			}
			if err == nil && got >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s has not caught up with master %s (offset %d) within %s: %v\n%s",
					r.Addr, master.Addr, want, within, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// infoInt returns the integer field name of an INFO answer.
func infoInt(info, name string) (int64, error) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}

// WaitFailover waits until the slot of key is served by a master other
// than old (a replica promoted after old was killed), as every running
// node sees it, and every running node says cluster_state:ok again. It
// returns the new master and how long the failover took: since old was
// killed (Kill), or since the call if it was not. After within it fails
// the test, showing CLUSTER NODES.
func (c *Cluster) WaitFailover(t testing.TB, key string, old *Server, within time.Duration) (*Server, time.Duration) {
	t.Helper()
	ctx := context.Background()
	slot := int(c.KeySlot(t, key))
	clients := map[*Server]*redis.Client{}
	for _, n := range c.live() {
		clients[n] = n.Client(t)
	}
	begin := time.Now()
	since, ok := c.killed[old]
	if !ok {
		since = begin
	}
	var why error
	for {
		m, err := c.slotMaster(ctx, clients, slot)
		if err == nil && m == old {
			err = fmt.Errorf("slot %d still served by %s", slot, old.Addr)
		}
		if err == nil {
			return m, time.Since(since)
		}
		why = err
		if time.Since(begin) > within {
			t.Fatalf("no failover of slot %d (key %s) away from %s within %s: %v\n%s",
				slot, key, old.Addr, within, why, c.ClusterNodes(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slotMaster returns the master of slot if every node of clients (the
// running ones) agrees on it and says cluster_state:ok, and the master is
// running.
func (c *Cluster) slotMaster(ctx context.Context, clients map[*Server]*redis.Client, slot int) (*Server, error) {
	var master, first *Server
	for _, n := range c.live() {
		rdb := clients[n]
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER INFO on %s: %w", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return nil, fmt.Errorf("node %s: cluster state not ok", n.Addr)
		}
		nodes, err := clusterNodes(ctx, rdb)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES on %s: %w", n.Addr, err)
		}
		sm := nodes.slotMaster(slot)
		if sm == nil {
			return nil, fmt.Errorf("node %s: slot %d has no master", n.Addr, slot)
		}
		s := c.server(sm.addr)
		switch {
		case s == nil:
			return nil, fmt.Errorf("node %s: slot %d on %s, not a node of this cluster", n.Addr, slot, sm.addr)
		case master == nil:
			master, first = s, n
		case s != master:
			return nil, fmt.Errorf("slot %d: node %s says it is on %s, node %s says %s", slot, first.Addr, master.Addr, n.Addr, s.Addr)
		}
	}
	if _, ok := c.killed[master]; ok {
		return master, fmt.Errorf("slot %d still served by %s, which is killed", slot, master.Addr)
	}
	return master, nil
}

// clusterView is CLUSTER NODES parsed.
type clusterView []clusterNode

// clusterNode is a line of CLUSTER NODES:
// <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>...
type clusterNode struct {
	id, addr, masterID string
	flags              []string
	slots              [][2]int
	line               string
}

func clusterNodes(ctx context.Context, rdb *redis.Client) (clusterView, error) {
	out, err := rdb.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	return parseClusterNodes(out)
}

func parseClusterNodes(out string) (clusterView, error) {
	var v clusterView
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), masterID: f[3], line: line}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being imported or migrated
				continue
			}
			lo, hi, isRange := strings.Cut(s, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES slot %q in %q", s, line)
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		v = append(v, n)
	}
	return v, nil
}

func (n clusterNode) has(flag string) bool { return slices.Contains(n.flags, flag) }
func (n clusterNode) isMaster() bool       { return n.has("master") }
func (n clusterNode) isReplica() bool      { return n.has("slave") }

func (v clusterView) myself() clusterNode {
	for _, n := range v {
		if n.has("myself") {
			return n
		}
	}
	return clusterNode{}
}

func (v clusterView) byAddr(addr string) *clusterNode {
	for i := range v {
		if v[i].addr == addr {
			return &v[i]
		}
	}
	return nil
}

// slotMaster returns the master that serves slot, nil when none does.
func (v clusterView) slotMaster(slot int) *clusterNode {
	for i, n := range v {
		if !n.isMaster() {
			continue
		}
		for _, r := range n.slots {
			if r[0] <= slot && slot <= r[1] {
				return &v[i]
			}
		}
	}
	return nil
}

func (v clusterView) String() string {
	var b strings.Builder
	for _, n := range v {
		b.WriteString(n.line + "\n")
	}
	return b.String()
}

// URL is the cluster as redis.url takes it with redis.cluster: the first
// node, and the others as addr parameters (go-redis ParseClusterURL).
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis://" + c.Nodes[0].Addr)
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			b.WriteString("?addr=")
		} else {
			b.WriteString("&addr=")
		}
		b.WriteString(n.Addr)
	}
	return b.String()
}

// Addrs returns the nodes' host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Client returns a cluster client, closed at cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// KeySlot returns the hash slot of key (CLUSTER KEYSLOT).
func (c *Cluster) KeySlot(t testing.TB, key string) int64 {
	t.Helper()
	n := c.running(t)
	slot, err := n.Client(t).ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s on %s: %v", key, n.Addr, err)
	}
	return slot
}

// NodeOf returns the node serving key's slot, as the cluster's slot map
// (CLUSTER SLOTS of a running node) says.
func (c *Cluster) NodeOf(t testing.TB, key string) *Server {
	t.Helper()
	slot := c.KeySlot(t, key)
	ranges, err := c.running(t).Client(t).ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	for _, r := range ranges {
		if int64(r.Start) > slot || slot > int64(r.End) || len(r.Nodes) == 0 {
			continue
		}
		for _, n := range c.Nodes {
			if n.Addr == r.Nodes[0].Addr {
				return n
			}
		}
		t.Fatalf("slot %d of %s is served by %s, not a node of this cluster", slot, key, r.Nodes[0].Addr)
	}
	t.Fatalf("slot %d of %s is not assigned", slot, key)
	return nil
}

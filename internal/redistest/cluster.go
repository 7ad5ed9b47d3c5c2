package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters without replicas, each a
// redis-server started as Start starts one (loopback, free ports, its own
// temporary directory, stopped at cleanup).
type Cluster struct {
	Nodes []*Server
}

// clusterReadyTimeout bounds the wait for every node to report the cluster
// healthy after redis-cli has assigned the slots.
const clusterReadyTimeout = 20 * time.Second

// StartCluster starts masters cluster-enabled redis-servers, joins them
// with redis-cli --cluster create (the slots split evenly, no replicas) and
// waits until every node says cluster_state:ok. redis-cli wants at least 3
// masters. A missing redis-server or redis-cli fails the test.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest.StartCluster: %d masters; redis-cli --cluster create needs at least 3", masters)
	}
	cli := lookTool(t, "redis-cli", "redis-tools")
	c := &Cluster{}
	for range masters {
		c.Nodes = append(c.Nodes, start(t, func() []string {
			// The bus port defaults to port+10000, which may be taken or
			// above 65535: pick a free one. The node file is named after it
			// so that a failed attempt leaves no node file to the next one.
			bus := strconv.Itoa(freePort(t))
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + bus + ".conf",
				"--cluster-port", bus, "--cluster-node-timeout", "5000"}
		}))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.waitOK(ctx, t)
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
	slot, err := c.Nodes[0].Client(t).ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	return slot
}

// NodeOf returns the node serving key's slot, as the cluster's slot map
// (CLUSTER SLOTS) says.
func (c *Cluster) NodeOf(t testing.TB, key string) *Server {
	t.Helper()
	slot := c.KeySlot(t, key)
	ranges, err := c.Nodes[0].Client(t).ClusterSlots(context.Background()).Result()
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

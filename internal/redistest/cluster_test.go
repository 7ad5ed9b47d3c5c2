package redistest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

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

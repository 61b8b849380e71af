package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Persistence is what a Redis keeps of its data across a restart.
type Persistence int

const (
	// PersistenceUnknown: Redis would not say. Managed Redis services usually refuse or rename
	// CONFIG, and an ACL user may lack the permission; that is no error, only unknown.
	PersistenceUnknown Persistence = iota
	// PersistenceNone: appendonly no and save "": a restart starts with an empty Redis.
	PersistenceNone
	// PersistenceSnapshot: RDB snapshots only (save "…", appendonly no): a restart loses every
	// write since the last snapshot, minutes of them.
	PersistenceSnapshot
	// PersistenceAOF: appendonly yes: every write goes to the append-only file, which a restart
	// replays; with appendfsync everysec at most about a second of writes is lost.
	PersistenceAOF
)

func (p Persistence) String() string {
	switch p {
	case PersistenceNone:
		return "none"
	case PersistenceSnapshot:
		return "snapshot"
	case PersistenceAOF:
		return "aof"
	}
	return "unknown"
}

// persistenceRank orders Persistence from the weakest: known to keep nothing, then unknown (it
// may keep nothing), then snapshots, then the append-only file.
var persistenceRank = map[Persistence]int{PersistenceNone: 0, PersistenceUnknown: 1, PersistenceSnapshot: 2, PersistenceAOF: 3}

// Durability is what a restart or a failover of a Redis would lose, as far as Redis lets a client
// read it. On a Cluster it is the weakest of the masters: the ledger's keys live on one of them,
// and which one is not the reader's concern.
type Durability struct {
	Persistence Persistence
	// AppendFsync is appendfsync (always, everysec, no) when the append-only file is on and
	// CONFIG could be read; "" otherwise.
	AppendFsync string
	// EvictionPolicy is maxmemory-policy (noeviction, allkeys-lru, …); "" when unknown.
	EvictionPolicy string
	// Role is INFO replication's role: "master", or "slave" for a replica; "" when unknown.
	Role string
	// Replicas is connected_slaves: the replicas connected to the master, the fewest of any
	// master on a Cluster; -1 when unknown.
	Replicas int
	// Masters is how many servers were inspected: 1, or a Cluster's masters.
	Masters int
}

// Inspect reads, where Redis permits, CONFIG GET appendonly, save, appendfsync and
// maxmemory-policy, and INFO replication. A command that Redis refuses (an unknown or renamed
// command, NOPERM, an INFO section it does not have) leaves its part unknown rather than failing:
// managed Redis often forbids CONFIG. The error is for Redis being unreachable or refusing the
// connection itself (authentication), or a context that ended.
//
// On a Cluster client every master is inspected (ForEachMaster) and the weakest reading of each
// part is reported. Any other client (a single server, or Sentinel's failover client) is read
// through itself, which is the master.
func Inspect(ctx context.Context, rdb redis.UniversalClient) (Durability, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return inspectNode(ctx, rdb)
	}
	var (
		mu    sync.Mutex
		nodes []Durability
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		d, err := inspectNode(ctx, c)
		if err != nil {
			return fmt.Errorf("cluster master %s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		nodes = append(nodes, d)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return Durability{Replicas: -1}, err
	}
	return weakest(nodes...), nil
}

// weakest combines the readings of several masters into the one that promises least: the
// weakest persistence and fsync, an evicting policy over noeviction, the fewest replicas, and
// unknown wherever one master is unknown and none is known to be worse.
func weakest(nodes ...Durability) Durability {
	if len(nodes) == 0 {
		return Durability{Replicas: -1}
	}
	w := nodes[0]
	w.Masters = 0
	for _, d := range nodes {
		w.Masters += max(d.Masters, 1)
		if persistenceRank[d.Persistence] < persistenceRank[w.Persistence] {
			w.Persistence = d.Persistence
		}
		if fsyncRank(d.AppendFsync) < fsyncRank(w.AppendFsync) {
			w.AppendFsync = d.AppendFsync
		}
		if evictionRank(d.EvictionPolicy) < evictionRank(w.EvictionPolicy) {
			w.EvictionPolicy = d.EvictionPolicy
		}
		if d.Role != w.Role {
			w.Role = "" // masters of a Cluster all say master; anything else is no one answer
		}
		if d.Replicas < 0 || w.Replicas < 0 {
			w.Replicas = -1
		} else {
			w.Replicas = min(w.Replicas, d.Replicas)
		}
	}
	return w
}

// fsyncRank orders appendfsync from the weakest: no (the kernel flushes when it likes), unknown,
// everysec, always.
func fsyncRank(s string) int {
	switch s {
	case "no":
		return 0
	case "everysec":
		return 2
	case "always":
		return 3
	}
	return 1
}

// evictionRank puts any policy that may evict keys below unknown, and noeviction above.
func evictionRank(s string) int {
	switch s {
	case "":
		return 1
	case "noeviction":
		return 2
	}
	return 0
}

// inspectNode reads one server.
func inspectNode(ctx context.Context, c redis.Cmdable) (Durability, error) {
	d := Durability{Replicas: -1, Masters: 1}
	params := []string{"appendonly", "save", "appendfsync", "maxmemory-policy"}
	cfg := make(map[string]string, len(params))
	for _, p := range params {
		m, err := c.ConfigGet(ctx, p).Result()
		if refused(err) {
			continue
		}
		if err != nil {
			return Durability{Replicas: -1}, fmt.Errorf("CONFIG GET %s: %w", p, err)
		}
		if v, ok := m[p]; ok {
			cfg[p] = v
		}
	}
	d.Persistence = persistenceOf(cfg)
	if d.Persistence == PersistenceAOF {
		d.AppendFsync = cfg["appendfsync"]
	}
	d.EvictionPolicy = cfg["maxmemory-policy"]

	info, err := c.Info(ctx, "replication").Result()
	switch {
	case refused(err):
	case err != nil:
		return Durability{Replicas: -1}, fmt.Errorf("INFO replication: %w", err)
	default:
		d.Role, d.Replicas = parseReplication(info)
	}
	return d, nil
}

// persistenceOf reads the persistence from CONFIG GET's answers: appendonly yes is the
// append-only file whatever save says; appendonly no leaves what save says, and unknown when save
// could not be read.
func persistenceOf(cfg map[string]string) Persistence {
	aof, ok := cfg["appendonly"]
	switch {
	case !ok:
		return PersistenceUnknown
	case aof == "yes":
		return PersistenceAOF
	}
	save, ok := cfg["save"]
	switch {
	case !ok:
		return PersistenceUnknown
	case strings.TrimSpace(save) == "":
		return PersistenceNone
	}
	return PersistenceSnapshot
}

// parseReplication reads role and connected_slaves from the text of INFO replication (or of a
// whole INFO): the role, "" when absent, and the number of connected replicas, -1 when absent or
// not a number.
func parseReplication(info string) (role string, replicas int) {
	replicas = -1
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "role":
			role = val
		case "connected_slaves":
			if n, err := strconv.Atoi(val); err == nil && n >= 0 {
				replicas = n
			}
		}
	}
	return role, replicas
}

// refused tells a command that Redis answered with an error, so that what it would have said is
// unknown, from a failure to reach Redis at all. Redis's errors that concern the connection or
// the server's state rather than the command (authentication, a dataset still loading, a Cluster
// or Sentinel without a master) are failures.
func refused(err error) bool {
	var re redis.Error
	if err == nil || !errors.As(err, &re) || redis.IsAuthError(err) {
		return false
	}
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
		if redis.HasErrorPrefix(err, prefix) {
			return false
		}
	}
	return true
}

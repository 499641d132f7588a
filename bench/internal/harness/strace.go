package harness

import (
	"bufio"
	"sort"
	"strconv"
	"strings"
)

// StraceSummary is what `strace -c` reported.
type StraceSummary struct {
	Calls     uint64            // total system calls
	Errors    uint64            // total failed calls (EAGAIN reads count here)
	BySyscall map[string]uint64 // calls per system call name
}

// Top returns the n most frequent system calls as "name=calls".
func (s StraceSummary) Top(n int) []string {
	type kv struct {
		name  string
		calls uint64
	}
	all := make([]kv, 0, len(s.BySyscall))
	for k, v := range s.BySyscall {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].calls != all[j].calls {
			return all[i].calls > all[j].calls
		}
		return all[i].name < all[j].name
	})
	out := []string{}
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, all[i].name+"="+strconv.FormatUint(all[i].calls, 10))
	}
	return out
}

// ParseStraceSummary parses `strace -c` output. Columns are right-aligned
// under the header and the errors column may be blank, so values are cut at
// the header's column ends instead of split on spaces.
func ParseStraceSummary(out string) (StraceSummary, error) {
	s := StraceSummary{BySyscall: map[string]uint64{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	callsEnd, errorsEnd := -1, -1
	sawTotal := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if callsEnd < 0 {
			if i := strings.Index(line, " calls"); i >= 0 && strings.Contains(line, "syscall") {
				callsEnd = i + len(" calls")
				if j := strings.Index(line, " errors"); j >= 0 {
					errorsEnd = j + len(" errors")
				}
			}
			continue
		}
		if strings.HasPrefix(line, "---") || len(line) <= callsEnd {
			continue
		}
		name := strings.TrimSpace(line[max(callsEnd, errorsEnd):])
		calls, err := strconv.ParseUint(lastField(line[:callsEnd]), 10, 64)
		if err != nil || name == "" {
			continue
		}
		var errs uint64
		if errorsEnd > callsEnd {
			errs, _ = strconv.ParseUint(strings.TrimSpace(line[callsEnd:errorsEnd]), 10, 64)
		}
		if name == "total" {
			s.Calls, s.Errors, sawTotal = calls, errs, true
			continue
		}
		s.BySyscall[name] += calls
	}
	if !sawTotal {
		return s, ErrNoStraceTotal
	}
	return s, nil
}

func lastField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

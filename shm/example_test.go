package shm_test

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/shm"
)

// A fixed-window rate limit as a policy would write it: the key is built in
// a reusable buffer, the counter starts at 0 with the window as its TTL, and
// nothing allocates per request.
func Example_rateLimit() {
	size, _ := shm.ParseSize("10MiB")
	reg, err := shm.NewRegistry(map[string]int64{"limits": size})
	if err != nil {
		panic(err)
	}
	limits := reg.Dict("limits") // looked up once, when the config is applied

	const limit = 3
	key := make([]byte, 0, 64)
	for request := 1; request <= 5; request++ {
		key = strconv.AppendInt(append(key[:0], "rl:consumer:"...), 42, 10)
		n, err := limits.Incr(key, 1, 0, time.Minute)
		if err != nil {
			panic(err)
		}
		fmt.Printf("request %d: count %d, allowed %v\n", request, n, n <= limit)
	}
	// Output:
	// request 1: count 1, allowed true
	// request 2: count 2, allowed true
	// request 3: count 3, allowed true
	// request 4: count 4, allowed false
	// request 5: count 5, allowed false
}

// Get appends a byte-string value to the caller's buffer and returns the
// flags and kind with it.
func ExampleDict_Get() {
	d, _ := shm.New(1 << 20)
	_ = d.SetString("page:/", shm.StringValue("<html>").WithFlags(200), time.Second)

	buf := make([]byte, 0, 256)
	v, ok := d.GetString("page:/", buf[:0])
	fmt.Println(ok, v.Kind, v.Flags, string(v.Bytes))
	buf = v.Bytes[:0] // keep the (possibly grown) buffer for the next Get

	_, ok = d.GetString("page:/missing", buf)
	fmt.Println(ok)
	// Output:
	// true bytes 200 <html>
	// false
}

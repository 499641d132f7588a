package http1_test

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/http1"
)

func ExampleRequest_Parse() {
	var r http1.Request
	r.Reset()
	// Bytes arrive in pieces; the caller appends and calls Parse again.
	buf := []byte("POST /v1/orders?dry=1 HTTP/1.1\r\nHost: api.example.com\r\n")
	n, err := r.Parse(buf)
	fmt.Println(n, err)
	buf = append(buf, "Content-Length: 2\r\n\r\n{}"...)
	n, err = r.Parse(buf)
	fmt.Println(n, err)
	fmt.Printf("%s %s %s %q\n", r.MethodName.In(buf), r.Path.In(buf), r.Query.In(buf), r.Host.In(buf))
	fmt.Println(r.ContentLength, r.KeepAlive, string(buf[n:]))
	// Output:
	// 0 <nil>
	// 76 <nil>
	// POST /v1/orders dry=1 "api.example.com"
	// 2 true {}
}

func ExampleAppendRequestHead() {
	buf := []byte("GET http://shop.example/cart HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n")
	var r http1.Request
	r.Reset()
	if _, err := r.Parse(buf); err != nil {
		panic(err)
	}
	var e http1.Edits
	e.SetHost([]byte("10.0.0.7:8080"))
	e.ForwardedFor([]byte("203.0.113.9"))
	head := http1.AppendRequestHead(nil, buf, &r, &e)
	fmt.Print(strings.ReplaceAll(string(head), "\r\n", "\n"))
	// Output:
	// GET /cart HTTP/1.1
	// Host: 10.0.0.7:8080
	// Accept: */*
	// X-Forwarded-For: 203.0.113.9
}

func ExampleChunkedDecoder_Decode() {
	src := []byte("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nnext request")
	var d http1.ChunkedDecoder
	for !d.Done() {
		n, data, err := d.Decode(src)
		if err != nil {
			panic(err)
		}
		fmt.Printf("consumed %d, payload %q\n", n, data)
		src = src[n:]
	}
	fmt.Printf("left %q\n", src)
	// Output:
	// consumed 19, payload "hello"
	// consumed 13, payload " world"
	// left "next request"
}

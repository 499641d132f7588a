package http1

// Sample heads shared by benchmarks, allocation tests and fuzz seeds.

// browserRequest is a Chrome-like navigation: about 500 bytes, 12 fields.
var browserRequest = []byte("GET /products/shoes/running?color=blue&size=42&sort=price HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: max-age=0\r\n" +
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Referer: https://shop.example.com/products/shoes\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"\r\n")

// apiRequest is a small JSON API call.
var apiRequest = []byte("POST /v1/orders HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 27\r\n" +
	"\r\n")

// apiResponse is a typical upstream answer.
var apiResponse = []byte("HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Date: Sun, 22 Nov 2026 01:00:00 GMT\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"Server: upstream\r\n" +
	"\r\n")

// realRequests are heads as real clients send them, for fuzz seeds and a
// test that each parses.
var realRequests = []string{
	// curl 8.5
	"GET /status HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
	// curl -x (proxy, absolute-form)
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n",
	// curl -p (CONNECT tunnel)
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n",
	// wrk
	"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
	// ApacheBench, HTTP/1.0
	"GET / HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
	// WebSocket handshake (RFC 6455 §1.2)
	"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n",
	// Firefox form POST
	"POST /login HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n" +
		"Origin: https://www.example.org\r\nConnection: keep-alive\r\nReferer: https://www.example.org/login\r\n" +
		"Cookie: sid=31d4d96e407aad42; lang=en\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n\r\n",
	// Go net/http client, chunked upload with Expect
	"PUT /upload HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Go-http-client/1.1\r\nTransfer-Encoding: chunked\r\n" +
		"Expect: 100-continue\r\nAccept-Encoding: gzip\r\n\r\n",
	// Health check with asterisk-form
	"OPTIONS * HTTP/1.1\r\nHost: 10.0.0.7\r\nMax-Forwards: 0\r\n\r\n",
}

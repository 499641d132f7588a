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

module github.com/sluice-gw/sluice

go 1.26

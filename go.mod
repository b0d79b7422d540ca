module mq

go 1.26.8

require github.com/google/go-cmp v0.7.0

require (
	9fans.net/go v0.0.8-0.20250307142834-96bdba94b63f
	github.com/creack/pty v1.1.24
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

// Package arg parses command lines the Plan 9 way (see ARGBEGIN in
// arg(2)): single-letter flags that may be combined, as in -Ds name,
// ending at "--", "-" or the first argument that is not a flag.
package arg

import "fmt"

// Flag is one flag as it appeared: its letter and, for flags that
// take one, its argument.
type Flag struct {
	Letter byte
	Value  string
}

// Parse splits args (without the program name) into flags and the
// remaining arguments. spec lists the accepted letters; a letter
// followed by ':' takes an argument, either the rest of its word
// (-sname) or the next word (-s name).
func Parse(args []string, spec string) (flags []Flag, rest []string, err error) {
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return flags, args[1:], nil
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			c := a[i]
			takes, ok := lookup(spec, c)
			if !ok {
				return nil, nil, fmt.Errorf("unknown flag -%c", c)
			}
			if !takes {
				flags = append(flags, Flag{Letter: c})
				continue
			}
			v := a[i+1:]
			if v == "" {
				if len(args) == 0 {
					return nil, nil, fmt.Errorf("flag -%c needs an argument", c)
				}
				v, args = args[0], args[1:]
			}
			flags = append(flags, Flag{Letter: c, Value: v})
			break
		}
	}
	return flags, args, nil
}

func lookup(spec string, c byte) (takesArg, ok bool) {
	for i := 0; i < len(spec); i++ {
		if spec[i] == c && c != ':' {
			return i+1 < len(spec) && spec[i+1] == ':', true
		}
	}
	return false, false
}

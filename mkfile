# mq, mq-cat and attach, built with Go.
#
# On 9front:
#	mk		build for $objtype into bin/plan9_$objtype
#	mk install	that, into /$objtype/bin, and the manual pages
#			(without Go here, the binaries mk cross made elsewhere)
#	mk installall	the same for each of $CPUS
#	mk man		the manual pages alone, into /sys/man
#	mk clean	remove what mk built
# Anywhere, with plan9port's or 9base's mk:
#	mk cross	build for each of $CPUS into bin/plan9_$cpu
# (mk BINDIR=dir puts them under dir instead of bin)
#
# Recipes keep to what Plan 9's rc and Byron's rc both read, since a
# Unix mk runs them with whichever of the two is rc there.

MKSHELL=rc
GO=go
CPUS=386 amd64 arm
CMDS=mq mq-cat attach
MAN=/sys/man
MANPAGES=4/mq 1/mq-cat 1/attach
BINDIR=bin

all:V: $BINDIR/plan9_$objtype

cross:V: ${CPUS:%=$BINDIR/plan9_%}

# Always run: go build knows better than mk what is out of date. With
# no $GO here, binaries built elsewhere and copied in are used. A
# recipe's status is its last command's: none ends in an if, and none
# uses if not, which Byron's rc reads differently.
$BINDIR/plan9_%:V:
	if(~ $stem ''){
		echo 'mk: $objtype is not set; mk cross builds for '$"CPUS >[1=2]
		exit 1
	}
	if(whatis $GO >/dev/null >[2=1] || ! test -x $BINDIR/plan9_$stem/mq){
		mkdir -p $BINDIR/plan9_$stem
		GOOS=plan9 GOARCH=$stem $GO build -o $BINDIR/plan9_$stem/mq .
		GOOS=plan9 GOARCH=$stem $GO build -o $BINDIR/plan9_$stem/mq-cat ./mqcat
		GOOS=plan9 GOARCH=$stem $GO build -o $BINDIR/plan9_$stem/attach ./attach
	}
	for(c in $CMDS) test -x $BINDIR/plan9_$stem/$c

install:V: plan9 all man
	for(c in $CMDS) cp $BINDIR/plan9_$objtype/$c /$objtype/bin/$c

installall:V: plan9
	for(objtype in $CPUS) mk install

man:V: plan9
	for(p in $MANPAGES) cp man/$p $MAN/$p

clean:V:
	rm -rf $BINDIR

# Installing writes into /$objtype/bin and /sys/man: refuse elsewhere.
plan9:V:
	if(~ $#objtype 0 || ~ $objtype '' || ! test -d /$objtype/bin || ! test -d $MAN){
		echo 'mk: not a Plan 9 system (no /$objtype/bin or /sys/man); mk cross builds here' >[1=2]
		exit 1
	}
	echo 'mk: installing into /'$objtype'/bin and '$MAN

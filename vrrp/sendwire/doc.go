// Package sendwire is the codec of the messages between the rmqlb daemon
// and its VRRP advert sender process (package vrrp/sendproc): one message
// per datagram of a SOCK_SEQPACKET socket pair (Alive and Check go on a
// second pair, which the sender reads when it wakes to send), big-endian,
// with an 8-byte header:
//
//	offset size field
//	0      1    type (TypeStart ... TypeCheck)
//	1      1    zero
//	2      2    instance: the daemon's number for a VRRP instance
//	4      4    sequence number: an Ack repeats the one it acknowledges,
//	            a Report the one of the Check it answers (0: none)
//
// and a body by type:
//
//	Start, Update (daemon to sender; a Start carries the instance's raw
//	socket in SCM_RIGHTS, outside this codec):
//	8      8    interval, nanoseconds (> 0)
//	16     8    first advert due, nanoseconds from receipt (Start only)
//	24     8    liveness timeout, nanoseconds (> 0): stop sending when
//	            the daemon was not heard from for that long
//	32     1    number of packets (1..MaxPackets)
//	33          per packet: 4 bytes IPv4 destination, 2 bytes length
//	            (1..MaxPacket), the IPv4 packet
//	Stop, Alive (daemon to sender): no body
//	Check (daemon to sender): no body; an Alive that also asks for a
//	            Report of the instance at the sender's next wake-up, sent
//	            even when it sent nothing since the last, and carrying
//	            the Check's sequence number: a report already on its way
//	            when the Check was sent is told from the answer
//	Ack (sender to daemon): no body
//	Report (sender to daemon):
//	8      4    packets sent since the last report
//	12     4    sends failed since the last report
//	16     1    1: the sender stopped this instance on its own (the
//	            daemon was not heard from within the liveness timeout)
//	17     1    number of delays (0..MaxDelays)
//	18          per delay: 4 bytes, microseconds an advert was late
//	then   4    IPv4 destination of the last send that failed since
//	            the last report (zero: none failed)
//	       4    why: the send's Linux errno (0: none failed)
//	Ready (sender to daemon, once at start):
//	8      1    length of the text (0..255)
//	9           how the sender is scheduled (UTF-8 text)
//
// The codec never touches a socket. Decode checks lengths first and
// returns io.ErrUnexpectedEOF for a message cut short, ErrMalformed for
// one that is not valid.
package sendwire

#!/usr/bin/perl
# An independent SMSC built on Net::SMPP (Debian libnet-smpp-perl), used by
# TestPerlSMSC to check our SMPP client against code we did not write.
#
# Usage: perl smsc.pl --port N
#
# Script (one client at a time, transceiver):
#   bind_transceiver            -> bind_transceiver_resp
#   submit_sm #1                -> submit_sm_resp id 1A2B (hex), then push:
#                                  a receipt with the decimal id 6699 in its text,
#                                  a receipt with receipted_message_id 1A2B (TLV, hex),
#                                  a UCS-2 MO, a 2-part concatenated MO (UDH)
#   submit_sm #2                -> ESME_RTHROTTLED (0x58)
#   submit_sm #3                -> submit_sm_resp id 1A2C
#   submit_sm #4                -> no answer: the connection is dropped
#   (reconnect, bind again)
#   submit_sm #5                -> submit_sm_resp id 1A2D
#   enquire_link                -> enquire_link_resp; unbind -> unbind_resp, exit
# Every event is printed on stdout, one per line, for the test to check.
use strict;
use warnings;
use Net::SMPP;
use Encode qw(encode decode);
use Getopt::Long;

$| = 1;
my $port = 2775;
GetOptions('port=i' => \$port) or die "usage: $0 --port N\n";

my $srv = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34)
    or die "listen on $port: $!\n";
print "LISTENING $port\n";

my $submits = 0;
my %ids = (1 => '1A2B', 3 => '1A2C', 5 => '1A2D');

sub ucs2 { encode('UTF-16BE', decode('UTF-8', $_[0])) }

sub push_deliveries {
    my ($c, $to, $from) = @_;
    my $now = '2511271000';
    # Receipt 1: decimal id in the text, as many SMSCs report.
    $c->deliver_sm(async => 1, source_addr => $to, destination_addr => $from, esm_class => 0x04,
        short_message => "id:6699 sub:001 dlvrd:001 submit date:$now done date:$now stat:DELIVRD err:000 text:");
    # Receipt 2: the hex id of the ack in receipted_message_id, state in message_state.
    $c->deliver_sm(async => 1, source_addr => $to, destination_addr => $from, esm_class => 0x04,
        short_message => "id:1A2B sub:001 dlvrd:001 submit date:$now done date:$now stat:DELIVRD err:000 text:",
        receipted_message_id => "1A2B\0", message_state => pack('C', 2));
    # A UCS-2 reply.
    $c->deliver_sm(async => 1, source_addr => $to, destination_addr => $from, data_coding => 8,
        short_message => ucs2("４ 等了两个小时"));
    # A 2-part concatenated reply: 8-bit reference 0x42, sent second part first.
    my $p1 = ucs2("5 " . ("非常满意" x 16) . "，");
    my $p2 = ucs2("谢谢");
    $c->deliver_sm(async => 1, source_addr => $to, destination_addr => $from, data_coding => 8,
        esm_class => 0x40, short_message => pack('C6', 5, 0, 3, 0x42, 2, 2) . $p2);
    $c->deliver_sm(async => 1, source_addr => $to, destination_addr => $from, data_coding => 8,
        esm_class => 0x40, short_message => pack('C6', 5, 0, 3, 0x42, 2, 1) . $p1);
    print "PUSHED 5\n";
}

CONN: while (1) {
    my $c = $srv->accept or die "accept: $!\n";
    print "ACCEPT\n";
    while (1) {
        my $pdu = $c->read_pdu;
        if (!defined $pdu) {
            print "EOF\n";
            close $c;
            next CONN;
        }
        my $cmd = $pdu->{cmd};
        if ($cmd == 0x00000009) {
            print "BIND $pdu->{system_id} $pdu->{password}\n";
            $c->bind_transceiver_resp(seq => $pdu->{seq}, system_id => 'PERLSMSC');
        } elsif ($cmd == 0x00000015) {
            print "ENQUIRE_LINK\n";
            $c->enquire_link_resp(seq => $pdu->{seq});
        } elsif ($cmd == 0x00000006) {
            print "UNBIND\n";
            $c->unbind_resp(seq => $pdu->{seq});
            close $c;
            exit 0;
        } elsif ($cmd == 0x80000005) {
            printf "DELIVER_RESP %d 0x%02X\n", $pdu->{seq}, $pdu->{status};
        } elsif ($cmd == 0x00000004) {
            $submits++;
            my $text = $pdu->{data_coding} == 8 ? decode('UTF-16BE', $pdu->{short_message}) : $pdu->{short_message};
            my $umr = defined $pdu->{user_message_reference} ? unpack('n', $pdu->{user_message_reference}) : 0;
            print "SUBMIT $submits $pdu->{destination_addr} ref=$umr dc=$pdu->{data_coding} ", encode('UTF-8', $text), "\n";
            if ($submits == 2) {
                print "THROTTLE\n";
                $c->submit_sm_resp(seq => $pdu->{seq}, status => 0x58, message_id => '');
            } elsif ($submits == 4) {
                print "DROP\n";
                close $c;
                next CONN;
            } else {
                $c->submit_sm_resp(seq => $pdu->{seq}, message_id => $ids{$submits} // sprintf('%X', 0x1A2B + $submits));
                push_deliveries($c, $pdu->{destination_addr}, $pdu->{source_addr}) if $submits == 1;
            }
        } else {
            printf "OTHER 0x%08X\n", $cmd;
            $c->generic_nack(seq => $pdu->{seq}, status => 0x03) unless $cmd & 0x80000000;
        }
    }
}

package sms

import "strconv"

// keys builds every Redis key of the SMS module. All keys start with the
// namespace in braces, the Redis Cluster hash tag of the case core's keys,
// so every script of this package touches one slot:
//
//	{ns}:sms:seq              counter of invitation and message numbers
//	{ns}:sms:inv:<id>         invitation hash: j (JSON), v (version), sent (ms), msgs
//	{ns}:sms:wo               hash work order ("wo:<id>") or case ("fu:<id>") → invitation
//	{ns}:sms:idem             hash API idempotency key → invitation
//	{ns}:sms:ph:<phone>       sorted set of a number's invitations by creation (ms)
//	{ns}:sms:tok:<claims id>  link token → invitation (expires with it)
//	{ns}:sms:code:<code>      short code → invitation (expires with it)
//	{ns}:sms:msg:<id>         outbox message hash (state, to, text, attempts, ...)
//	{ns}:sms:due              sorted set of messages to look at, by due time (ms);
//	                          a message being sent is scored by its lease end
//	{ns}:sms:states           hash state → number of message hashes in that state
//	{ns}:sms:end              sorted set "<state>:<id>" of finished messages whose hash
//	                          expires, by expiry (ms): keeps states exact when they go
//	{ns}:sms:rid:<prov>:<id>  provider message id → message (for receipts)
//	{ns}:sms:dlv:<id>         set of the message's delivered parts
//	{ns}:sms:sup              suppression list (opted-out numbers)
//	{ns}:sms:cap:<phone>:<d>  messages sent to a number on day d
//	{ns}:sms:mo:<prov>:<id>   incoming message ids seen (duplicate replies)
//	{ns}:sms:late:<inv>       list of texts that came after the invitation's rating
//	{ns}:sms:uns              list of texts that matched no open invitation
//	{ns}:sms:rl:<k>:<minute>  rate limit counters of the rating page
//	{ns}:sms:console          list of messages the console provider "sent"
type keys struct{ p string }

func newKeys(namespace string) keys { return keys{p: "{" + namespace + "}:sms:"} }

func (k keys) seq() string                { return k.p + "seq" }
func (k keys) inv(id string) string       { return k.p + "inv:" + id }
func (k keys) wo() string                 { return k.p + "wo" }
func (k keys) idem() string               { return k.p + "idem" }
func (k keys) phone(p string) string      { return k.p + "ph:" + p }
func (k keys) tok(id string) string       { return k.p + "tok:" + id }
func (k keys) code(c string) string       { return k.p + "code:" + c }
func (k keys) msg(id string) string       { return k.p + "msg:" + id }
func (k keys) due() string                { return k.p + "due" }
func (k keys) states() string             { return k.p + "states" }
func (k keys) end() string                { return k.p + "end" }
func (k keys) rid(prov, id string) string { return k.p + "rid:" + prov + ":" + id }
func (k keys) sup() string                { return k.p + "sup" }
func (k keys) mo(prov, id string) string  { return k.p + "mo:" + prov + ":" + id }

// early holds, for a few minutes, the delivery reports that arrived before
// the send of provider message id was recorded.
func (k keys) early(prov, id string) string { return k.p + "early:" + prov + ":" + id }
func (k keys) late(inv string) string       { return k.p + "late:" + inv }
func (k keys) unsolicited() string          { return k.p + "uns" }
func (k keys) console() string              { return k.p + "console" }
func (k keys) rate(kind, key string, minute int64) string {
	return k.p + "rl:" + kind + ":" + key + ":" + strconv.FormatInt(minute, 10)
}

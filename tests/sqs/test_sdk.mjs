// test_sdk.mjs: the AWS SDK for JavaScript v3 (JSON protocol, body MD5 checks on) runs the whole SQS loop against a real mmqd.
//
// Usage: MMQD=path/to/mmqd /usr/bin/node tests/sqs/test_sdk.mjs, after npm ci in tests/sqs
// (make test-sqs does both). Every answer is checked exactly; the first mismatch prints the
// server's log and exits 1.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as S from "@aws-sdk/client-sqs";

const ACCOUNT = "000000000000";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One mmqd on 127.0.0.1 with a temporary data directory; restarts keep the port.
const server = {
  tmp: mkdtempSync(join(tmpdir(), "mmq-sqs-js-")),
  port: 0,
  proc: null,
  args: [],
  get log() { return join(this.tmp, "mmqd.log"); },
  async start(...args) {
    if (args.length) this.args = args;
    writeFileSync(this.log, "");
    const out = openSync(this.log, "a");
    this.proc = spawn(process.env.MMQD, ["--listen", `127.0.0.1:${this.port}`, "--data-dir",
      join(this.tmp, "data"), "--sync", "always", ...this.args], { stdio: ["ignore", out, out] });
    closeSync(out);
    this.exited = new Promise((r) => this.proc.once("exit", (code, sig) => r(sig ?? code)));
    for (let i = 0; i < 600; i++) {
      const m = /event=listening addr=127\.0\.0\.1:(\d+)/.exec(readFileSync(this.log, "utf8"));
      if (m) {
        this.port = Number(m[1]);
        this.url = `http://127.0.0.1:${this.port}`;
        return;
      }
      if (this.proc.exitCode !== null) fail("mmqd did not start");
      await sleep(50);
    }
    fail("mmqd did not say it listens within 30 s");
  },
  // SIGTERM must end in status 0, SIGKILL in death by that signal.
  async stop(sig) {
    this.proc.kill(sig);
    const how = await this.exited;
    this.proc = null;
    const want = sig === "SIGTERM" ? 0 : "SIGKILL";
    if (how !== want) fail(`mmqd ended with ${how} after ${sig}, expected ${want}`);
  },
  cleanup() {
    if (this.proc) this.proc.kill("SIGKILL");
    rmSync(this.tmp, { recursive: true, force: true });
  },
};

let checks = 0;

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  try {
    console.error("--- mmqd log (last 20 lines)\n" + readFileSync(server.log, "utf8").split("\n").slice(-21).join("\n"));
  } catch {}
  server.cleanup();
  process.exit(1);
}

function check(what, got, want) {
  if (!isDeepStrictEqual(got, want)) fail(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  checks++;
}

const md5 = (data) => createHash("md5").update(data).digest("hex");

// The MD5 SQS documents for message attributes (names in byte order, length-prefixed fields).
function attrMd5(attrs) {
  const parts = [];
  const field = (b) => { const n = Buffer.alloc(4); n.writeUInt32BE(b.length); parts.push(n, b); };
  for (const name of Object.keys(attrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    const a = attrs[name];
    field(Buffer.from(name));
    field(Buffer.from(a.DataType));
    if (a.DataType.startsWith("Binary")) {
      parts.push(Buffer.from([2]));
      field(Buffer.from(a.BinaryValue));
    } else {
      parts.push(Buffer.from([1]));
      field(Buffer.from(a.StringValue));
    }
  }
  return md5(Buffer.concat(parts));
}

function client(key = "mmqtest", secret = "mmqtestsecret") {
  return new S.SQSClient({ endpoint: server.url, region: "us-east-1", maxAttempts: 1,
    credentials: { accessKeyId: key, secretAccessKey: secret } });
}

// The call must fail with the SQS error name, the legacy code of x-amzn-query-error, and status.
async function expectError(name, code, status, promise) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    check(`error ${name}`, [e.name, e.Code, e.$metadata?.httpStatusCode], [name, code, status]);
    return e;
  }
  fail(`succeeded, expected ${name}: ${JSON.stringify(got)}`);
}

const bodies = (r) => (r.Messages ?? []).map((m) => m.Body);
const url = (q) => `${server.url}/${ACCOUNT}/${q}`;

async function counts(sqs, QueueUrl) {
  const a = (await sqs.send(new S.GetQueueAttributesCommand({ QueueUrl, AttributeNames: [
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed"] }))).Attributes;
  return [a.ApproximateNumberOfMessages, a.ApproximateNumberOfMessagesNotVisible,
    a.ApproximateNumberOfMessagesDelayed].map(Number);
}

const ATTRS = {
  color: { DataType: "String", StringValue: "blue" },
  count: { DataType: "Number", StringValue: "42" },
  raw: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 2, 255, 98, 105, 110]) },
  "z.custom": { DataType: "String.custom", StringValue: "ü" },
};

// Create, idempotence, conflicts, URLs and lists. Returns [main, dlq, dlq arn].
async function queues(sqs) {
  check("list on a fresh server", (await sqs.send(new S.ListQueuesCommand({}))).QueueUrls, undefined);
  const dlq = (await sqs.send(new S.CreateQueueCommand({ QueueName: "js-dlq" }))).QueueUrl;
  check("dlq url", dlq, url("js-dlq"));
  const arn = (await sqs.send(new S.GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] })))
    .Attributes.QueueArn;
  check("dlq arn", arn.replace(new RegExp(`:[a-z0-9-]+:${ACCOUNT}:`), ":R:A:"), "arn:aws:sqs:R:A:js-dlq");
  const Attributes = { VisibilityTimeout: "30",
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: "3" }) };
  const main = (await sqs.send(new S.CreateQueueCommand({ QueueName: "js-main", Attributes }))).QueueUrl;
  check("main url", main, url("js-main"));
  check("create again", (await sqs.send(new S.CreateQueueCommand({ QueueName: "js-main", Attributes }))).QueueUrl, main);
  await expectError("QueueNameExists", "QueueAlreadyExists", 400,
    sqs.send(new S.CreateQueueCommand({ QueueName: "js-main", Attributes: { VisibilityTimeout: "31" } })));
  check("get url", (await sqs.send(new S.GetQueueUrlCommand({ QueueName: "js-main" }))).QueueUrl, main);
  await expectError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400,
    sqs.send(new S.GetQueueUrlCommand({ QueueName: "js-nope" })));
  check("list with prefix", (await sqs.send(new S.ListQueuesCommand({ QueueNamePrefix: "js-" }))).QueueUrls.sort(),
    [dlq, main]);
  return [main, dlq, arn];
}

// Send, batch, receive with attributes, visibility, deletes and batch errors.
async function sendReceive(sqs, main) {
  let r = await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "first body", MessageAttributes: ATTRS }));
  check("send attributes md5", r.MD5OfMessageAttributes, attrMd5(ATTRS));
  const first = r.MessageId;
  const batch = ["second <&> \"quoted\"", "third é ü 日本 \u{1F600}", "{\"json\":[1,2]}"];
  r = await sqs.send(new S.SendMessageBatchCommand({ QueueUrl: main, Entries: [
    ...batch.map((b, i) => ({ Id: `b${i}`, MessageBody: b })), { Id: "late", MessageBody: "delayed", DelaySeconds: 600 }] }));
  check("batch ok", r.Successful.map((e) => e.Id).sort(), ["b0", "b1", "b2", "late"]);
  check("batch failed", r.Failed ?? [], []);
  await expectError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400,
    sqs.send(new S.SendMessageBatchCommand({ QueueUrl: main, Entries: [{ Id: "x", MessageBody: "1" }, { Id: "x", MessageBody: "2" }] })));
  await expectError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400,
    sqs.send(new S.DeleteMessageBatchCommand({ QueueUrl: main, Entries: [] })));
  check("counts after sends", await counts(sqs, main), [4, 0, 1]);

  r = await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MaxNumberOfMessages: 10,
    MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"] }));
  check("received", bodies(r), ["first body", ...batch]);
  const m = r.Messages;
  check("body md5s", m.map((x) => x.MD5OfBody), bodies(r).map(md5));
  check("first id", m[0].MessageId, first);
  check("attributes", m[0].MessageAttributes, ATTRS);
  check("attributes md5", m[0].MD5OfMessageAttributes, attrMd5(ATTRS));
  check("receive counts", m.map((x) => x.Attributes.ApproximateReceiveCount), ["1", "1", "1", "1"]);
  check("first receive timestamp", m.every((x) => /^\d{13}$/.test(x.Attributes.ApproximateFirstReceiveTimestamp)), true);

  await sqs.send(new S.ChangeMessageVisibilityCommand({ QueueUrl: main, ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0 }));
  const again = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }))).Messages;
  check("visible again", again.map((x) => [x.MessageId, x.Attributes.ApproximateReceiveCount]), [[first, "2"]]);
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m[0].ReceiptHandle }));
  check("a stale handle deletes nothing", await counts(sqs, main), [0, 4, 1]);
  await expectError("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400,
    sqs.send(new S.ChangeMessageVisibilityCommand({ QueueUrl: main, ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0 })));
  r = await sqs.send(new S.ChangeMessageVisibilityBatchCommand({ QueueUrl: main, Entries: [
    { Id: "a", ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 0 },
    { Id: "b", ReceiptHandle: m[1].ReceiptHandle, VisibilityTimeout: 0 },
    { Id: "bad", ReceiptHandle: "not-a-handle", VisibilityTimeout: 0 }] }));
  check("visibility batch ok", r.Successful.map((e) => e.Id).sort(), ["a", "b"]);
  check("visibility batch failed", r.Failed.map((e) => [e.Id, e.Code, e.SenderFault]), [["bad", "ReceiptHandleIsInvalid", true]]);
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m[2].ReceiptHandle }));
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m[2].ReceiptHandle })); // gone already
  const back = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MaxNumberOfMessages: 10 }))).Messages;
  check("two back", back.map((x) => x.Body), ["first body", batch[0]]);
  r = await sqs.send(new S.DeleteMessageBatchCommand({ QueueUrl: main, Entries: [
    ...back.map((x, i) => ({ Id: `d${i}`, ReceiptHandle: x.ReceiptHandle })), { Id: "bad", ReceiptHandle: "not-a-handle" }] }));
  check("delete batch ok", r.Successful.map((e) => e.Id).sort(), ["d0", "d1"]);
  check("delete batch failed", r.Failed.map((e) => [e.Id, e.Code, e.SenderFault]), [["bad", "ReceiptHandleIsInvalid", true]]);
  await expectError("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400,
    sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: "not-a-handle" })));
  check("one in flight, one delayed", await counts(sqs, main), [0, 1, 1]);
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m[3].ReceiptHandle }));
}

// Received three times and made visible again, the message is found in the DLQ.
async function redrive(sqs, main, dlq) {
  await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "poison" }));
  for (const n of [1, 2, 3]) {
    const m = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }))).Messages;
    check(`poison receive ${n}`, m.map((x) => [x.Body, x.Attributes.ApproximateReceiveCount]), [["poison", String(n)]]);
    await sqs.send(new S.ChangeMessageVisibilityCommand({ QueueUrl: main, ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0 }));
  }
  check("poison gone from main", bodies(await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main }))), []);
  const m = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: dlq }))).Messages;
  check("poison in the dlq", m.map((x) => x.Body), ["poison"]);
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: dlq, ReceiptHandle: m[0].ReceiptHandle }));
}

// A receive waiting on an empty queue is woken by a send from another client; one runs out.
async function longPolls(sqs, main) {
  let done = false;
  const poll = client().send(new S.ReceiveMessageCommand({ QueueUrl: main, WaitTimeSeconds: 20 }))
    .finally(() => { done = true; });
  await sleep(1000);
  check("the long poll still waits", done, false);
  const sent = (await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "wake" }))).MessageId;
  const r = await poll;
  check("long poll woken by a send", r.Messages.map((x) => [x.MessageId, x.Body]), [[sent, "wake"]]);
  const t0 = performance.now();
  check("long poll that runs out", bodies(await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, WaitTimeSeconds: 1 }))), []);
  check("it waited", performance.now() - t0 >= 1000, true);
  return r.Messages[0].ReceiptHandle;
}

// SIGTERM, then kill -9: visible and in-flight messages, ids and handles all survive.
async function restarts(main, inFlight) {
  let sqs = client();
  const kept = (await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "r1" }))).MessageId;
  await server.stop("SIGTERM");
  await server.start();
  sqs = client();
  check("after SIGTERM: counts", (await counts(sqs, main)).slice(0, 2), [1, 1]);
  let m = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main }))).Messages;
  check("after SIGTERM: message", m.map((x) => [x.MessageId, x.Body]), [[kept, "r1"]]);
  const r = await sqs.send(new S.DeleteMessageBatchCommand({ QueueUrl: main, Entries: [
    { Id: "old", ReceiptHandle: inFlight }, { Id: "new", ReceiptHandle: m[0].ReceiptHandle }] }));
  check("after SIGTERM: handles from before and after", r.Successful.map((e) => e.Id).sort(), ["new", "old"]);

  const k1 = (await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "k1", MessageAttributes: ATTRS }))).MessageId;
  const hk = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main }))).Messages[0].ReceiptHandle;
  const k2 = (await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "k2" }))).MessageId;
  await server.stop("SIGKILL");
  await server.start();
  sqs = client();
  m = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MaxNumberOfMessages: 10 }))).Messages;
  check("after kill -9: visible", m.map((x) => [x.MessageId, x.Body]), [[k2, "k2"]]);
  await sqs.send(new S.ChangeMessageVisibilityCommand({ QueueUrl: main, ReceiptHandle: hk, VisibilityTimeout: 0 }));
  const m2 = (await sqs.send(new S.ReceiveMessageCommand({ QueueUrl: main, MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    MessageAttributeNames: ["All"] }))).Messages;
  check("after kill -9: in flight, released by its old handle",
    m2.map((x) => [x.MessageId, x.Body, x.Attributes.ApproximateReceiveCount, x.MessageAttributes, x.MD5OfMessageAttributes]),
    [[k1, "k1", "2", ATTRS, attrMd5(ATTRS)]]);
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m[0].ReceiptHandle }));
  await sqs.send(new S.DeleteMessageCommand({ QueueUrl: main, ReceiptHandle: m2[0].ReceiptHandle }));
  return sqs;
}

// Set and get attributes, the size limit, purge and delete.
async function settings(sqs, main, dlq, arn) {
  await sqs.send(new S.SetQueueAttributesCommand({ QueueUrl: main, Attributes: {
    VisibilityTimeout: "45", MaximumMessageSize: "1024", DelaySeconds: "0", ReceiveMessageWaitTimeSeconds: "1",
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 5 }) } }));
  const a = (await sqs.send(new S.GetQueueAttributesCommand({ QueueUrl: main, AttributeNames: ["All"] }))).Attributes;
  check("set attributes", [a.VisibilityTimeout, a.MaximumMessageSize, a.DelaySeconds, a.ReceiveMessageWaitTimeSeconds],
    ["45", "1024", "0", "1"]);
  check("redrive policy", JSON.parse(a.RedrivePolicy), { deadLetterTargetArn: arn, maxReceiveCount: 5 });
  await expectError("InvalidAttributeName", "InvalidAttributeName", 400,
    sqs.send(new S.GetQueueAttributesCommand({ QueueUrl: main, AttributeNames: ["Nope"] })));
  await expectError("InvalidParameterValue", "InvalidParameterValue", 400,
    sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "x".repeat(1025) })));
  // Exactly MaximumMessageSize fits, quotes and line breaks included.
  await sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "\"\n".repeat(512) }));
  await sqs.send(new S.PurgeQueueCommand({ QueueUrl: main }));
  check("purged", await counts(sqs, main), [0, 0, 0]);
  await sqs.send(new S.DeleteQueueCommand({ QueueUrl: main }));
  await sqs.send(new S.DeleteQueueCommand({ QueueUrl: dlq }));
  check("list after delete", (await sqs.send(new S.ListQueuesCommand({ QueueNamePrefix: "js-" }))).QueueUrls, undefined);
  await expectError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400,
    sqs.send(new S.SendMessageCommand({ QueueUrl: main, MessageBody: "x" })));
}

// With a token and --sqs-access-key, that access key gets in and another one (the token
// included) gets the SQS auth error.
async function auth() {
  writeFileSync(join(server.tmp, "token"), "the-v1-token\n");
  await server.stop("SIGTERM");
  await server.start("--auth-token-file", join(server.tmp, "token"), "--sqs-access-key", "mmqtest");
  check("right access key", (await client().send(new S.CreateQueueCommand({ QueueName: "js-auth" }))).QueueUrl, url("js-auth"));
  await expectError("InvalidClientTokenId", "InvalidClientTokenId", 403, client("wrongkey").send(new S.ListQueuesCommand({})));
  await expectError("InvalidClientTokenId", "InvalidClientTokenId", 403, client("the-v1-token").send(new S.ListQueuesCommand({})));
  // With --sqs-secret-key the SigV4 signature is verified: the right secret in, another out.
  await server.stop("SIGTERM");
  await server.start("--auth-token-file", join(server.tmp, "token"), "--sqs-access-key", "mmqtest",
    "--sqs-secret-key", "mmqtestsecret");
  const r = await client().send(new S.SendMessageCommand({ QueueUrl: url("js-auth"), MessageBody: "signed é", MessageAttributes: ATTRS }));
  check("signed send", r.MD5OfMessageAttributes, attrMd5(ATTRS));
  const got = (await client().send(new S.ReceiveMessageCommand({ QueueUrl: url("js-auth"), MessageAttributeNames: ["All"] }))).Messages;
  check("signed receive", got.map((m) => [m.Body, m.MessageAttributes]), [["signed é", ATTRS]]);
  await expectError("SignatureDoesNotMatch", "SignatureDoesNotMatch", 403,
    client("mmqtest", "wrongsecret").send(new S.ListQueuesCommand({})));
  await server.stop("SIGTERM");
}

async function main() {
  const t0 = performance.now();
  await server.start();
  const sqs = client();
  check("body MD5 checks on (the SDK's default)", typeof sqs.config.md5, "function");
  const [mainUrl, dlq, arn] = await queues(sqs);
  await sendReceive(sqs, mainUrl);
  await redrive(sqs, mainUrl, dlq);
  const handle = await longPolls(sqs, mainUrl);
  const after = await restarts(mainUrl, handle);
  await settings(after, mainUrl, dlq, arn);
  await auth();
  server.cleanup();
  console.log(`test_sdk: ${checks} checks passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => fail(`unexpected: ${e.stack ?? e}`));

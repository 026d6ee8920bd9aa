// mmq.js: the SQS endpoint of the mmq cluster proxy (nginx njs): ListQueues asks every node and
// merges their lists; every other SQS request goes on to the node of its queue (@mmq_sqs).
//
// The nodes are $mmq_nodes (names separated by spaces, each with an upstream mmq_<name>). A node
// lists its queues sorted by name, and its NextToken is the last name it showed (the next page
// starts after it), so the first MaxResults names after a token of all nodes together are among
// the first MaxResults of each: merging the pages gives the cluster's page, with the same token.

const ACTION = /(?:^|&)Action=ListQueues(?:&|$)/;
const MAX_RESULTS = /(?:^|&)MaxResults=([^&]*)/;
const UNAVAILABLE = '{"error":{"code":"node_unavailable","message":' +
    '"A node of the cluster is unavailable, so the list of queues would be incomplete; retry later."}}';

function isJson(r) {
    return r.headersIn['X-Amz-Target'] !== undefined;
}

function isListQueues(r) {
    if (isJson(r)) {
        return r.headersIn['X-Amz-Target'] === 'AmazonSQS.ListQueues';
    }
    return ACTION.test(r.requestText || '') || ACTION.test(r.variables.args || '');
}

// maxResults returns {limit, paged}: MaxResults as the request gives it (the nodes have already
// refused a bad one), else 1000 and not paged.
function maxResults(r) {
    let v;
    if (isJson(r)) {
        v = JSON.parse(r.requestText || '{}').MaxResults;
    } else {
        const m = MAX_RESULTS.exec(r.requestText || '') || MAX_RESULTS.exec(r.variables.args || '');
        v = m ? m[1] : undefined;
    }
    return v === undefined ? { limit: 1000, paged: false } : { limit: Number(v), paged: true };
}

// urlsOf returns the queue URLs of one node's successful answer.
function urlsOf(r, reply) {
    if (isJson(r)) {
        return JSON.parse(reply.responseText).QueueUrls || [];
    }
    const urls = [];
    const re = /<QueueUrl>([^<]*)<\/QueueUrl>/g;
    let m;
    while ((m = re.exec(reply.responseText)) !== null) {
        urls.push(m[1]);
    }
    return urls;
}

function nameOf(url) {
    return url.slice(url.lastIndexOf('/') + 1);
}

// answer sends the merged page in the protocol of the request, with the first node's request id
// (and, for the Query protocol, its XML envelope).
function answer(r, first, urls, token) {
    r.headersOut['x-amzn-RequestId'] = first.headersOut['x-amzn-RequestId'];
    r.headersOut['Content-Type'] = first.headersOut['Content-Type'];
    if (isJson(r)) {
        const out = {};
        if (urls.length > 0) {
            out.QueueUrls = urls;
        }
        if (token !== undefined) {
            out.NextToken = token;
        }
        r.return(200, JSON.stringify(out));
        return;
    }
    let inner = urls.map(u => '<QueueUrl>' + u + '</QueueUrl>').join('');
    if (token !== undefined) {
        inner += '<NextToken>' + token + '</NextToken>';
    }
    r.return(200, first.responseText.replace(/<ListQueuesResult>[\s\S]*<\/ListQueuesResult>/,
        '<ListQueuesResult>' + inner + '</ListQueuesResult>'));
}

async function listQueues(r) {
    const nodes = r.variables.mmq_nodes.split(' ').filter(n => n.length > 0);
    const replies = await Promise.all(nodes.map(n => r.subrequest('/_mmq/node/' + n + '/',
        { method: r.method, args: r.variables.args || '', body: r.requestText || '' })));
    const down = replies.find(s => s.status >= 500);
    if (down !== undefined) {
        r.headersOut['Content-Type'] = 'application/json; charset=utf-8';
        r.headersOut['Retry-After'] = '5';
        r.return(503, UNAVAILABLE);
        return;
    }
    const refused = replies.find(s => s.status !== 200);
    if (refused !== undefined) {
        // The request itself is wrong (a bad MaxResults, no credentials, a GET): every node says so.
        ['Content-Type', 'x-amzn-RequestId', 'x-amzn-query-error', 'WWW-Authenticate', 'Allow'].forEach(h => {
            if (refused.headersOut[h] !== undefined) {
                r.headersOut[h] = refused.headersOut[h];
            }
        });
        r.return(refused.status, refused.responseText);
        return;
    }
    const max = maxResults(r);
    let urls = [];
    replies.forEach(s => { urls = urls.concat(urlsOf(r, s)); });
    urls.sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
    const page = urls.slice(0, max.limit);
    const token = max.paged && urls.length > max.limit ? nameOf(page[page.length - 1]) : undefined;
    answer(r, replies[0], page, token);
}

// sqs is the content handler of POST / (and GET /): nginx has read the whole body by now.
function sqs(r) {
    if (!isListQueues(r)) {
        r.internalRedirect('@mmq_sqs');
        return;
    }
    listQueues(r).catch(e => {
        r.error('mmq.js: ListQueues: ' + e);
        r.return(502);
    });
}

export default { sqs };

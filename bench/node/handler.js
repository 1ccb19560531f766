// Node handlers equivalent to streamgate's (echo provider, in-memory records), answering
// through serverless-offline's @connections endpoint with the AWS SDK.
"use strict";
const { ApiGatewayManagementApiClient, PostToConnectionCommand } = require("@aws-sdk/client-apigatewaymanagementapi");

const client = new ApiGatewayManagementApiClient({
  endpoint: process.env.MANAGEMENT_ENDPOINT,
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});
const records = new Map();

const post = (connectionId, frame) =>
  client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: JSON.stringify(frame) }));

exports.connect = async (event) => {
  const ctx = event.requestContext;
  records.set(ctx.connectionId, { connectedAt: ctx.connectedAt, ttl: Math.floor(ctx.connectedAt / 1000) + 10800 });
  return { statusCode: 200 };
};

exports.disconnect = async (event) => {
  records.delete(event.requestContext.connectionId);
  return { statusCode: 200 };
};

exports.message = async (event) => {
  const id = event.requestContext.connectionId;
  let body;
  try { body = JSON.parse(event.body); } catch { body = null; }
  const requestId = (body && body.requestId) || event.requestContext.requestId;
  if (!body || typeof body.data !== "string" || body.data.trim() === "") {
    await post(id, { type: "error", requestId, code: "bad_request", error: "data is required" });
    return { statusCode: 200 };
  }
  const words = body.data.split(/(?=\s)/).length;
  await post(id, { type: "chunk", requestId, content: body.data });
  await post(id, { type: "done", requestId, usage: { inputTokens: words, outputTokens: words } });
  return { statusCode: 200 };
};

exports.default = async (event) => {
  await post(event.requestContext.connectionId, {
    type: "error", code: "unknown_action", error: "unknown action", actions: ["message"],
  });
  return { statusCode: 200 };
};

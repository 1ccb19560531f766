import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const TableName = process.env.TABLE_NAME;

export const connect = async (event) => {
  await db.send(new PutCommand({ TableName, Item: { connectionId: event.requestContext.connectionId } }));
  return { statusCode: 200 };
};

export const disconnect = async (event) => {
  await db.send(new DeleteCommand({ TableName, Key: { connectionId: event.requestContext.connectionId } }));
  return { statusCode: 200 };
};

export const send = async (event) => {
  const { domainName, stage } = event.requestContext;
  const api = new ApiGatewayManagementApiClient({ endpoint: `https://${domainName}/${stage}` });
  const { data } = JSON.parse(event.body);
  const { Items } = await db.send(new ScanCommand({ TableName }));
  await Promise.all(Items.map(async ({ connectionId }) => {
    try {
      await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    } catch (e) {
      if (e.$metadata?.httpStatusCode !== 410) throw e;
      await db.send(new DeleteCommand({ TableName, Key: { connectionId } }));
    }
  }));
  return { statusCode: 200 };
};

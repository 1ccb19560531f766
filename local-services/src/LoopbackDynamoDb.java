import java.lang.reflect.Field;

/**
 * Starts AWS's DynamoDB Local as its own command line would (same arguments), but listening on
 * 127.0.0.1 only: its command line has no option for the address, and by default it listens
 * on every interface of the machine.
 */
public class LoopbackDynamoDb {
    public static void main(String[] args) throws Exception {
        var proxy = software.amazon.dynamodb.services.local.main.ServerRunner
                .createServerFromCommandLineArgs(args);
        Field field = proxy.getClass().getDeclaredField("server");
        field.setAccessible(true);
        var server = (org.eclipse.jetty.server.Server) field.get(proxy);
        for (var connector : server.getConnectors()) {
            if (connector instanceof org.eclipse.jetty.server.ServerConnector listening) {
                listening.setHost("127.0.0.1");
            }
        }
        proxy.start();
        proxy.join();
    }
}

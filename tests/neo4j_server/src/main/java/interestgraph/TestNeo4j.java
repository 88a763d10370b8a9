package interestgraph;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * The test suite's Neo4j: Neo4j Community started embedded, answering Bolt on 127.0.0.1.
 *
 * <p>Usage: {@code java -Xmx1g -cp ... interestgraph.TestNeo4j <home dir> <bolt port> <password>
 * [setting=value ...]}; the optional settings are Neo4j configuration (e.g.
 * {@code db.memory.transaction.max=64MiB}).
 * Authentication is on (as in production) with the given password for user {@code neo4j};
 * the database lives in the home directory, which the caller creates and removes. Prints
 * {@code NEO4J READY bolt://127.0.0.1:<port>} once Bolt answers, then serves until its
 * standard input closes (the parent stopped, or died: the pipe closes either way) or it is
 * sent SIGTERM.
 */
public final class TestNeo4j {
    private TestNeo4j() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: TestNeo4j <home dir> <bolt port> <password> [setting=value ...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String password = args[2];

        // further settings go through a config file, the builder's way to take raw names
        Path conf = home.resolve("test-neo4j.conf");
        Files.write(conf, Arrays.asList(args).subList(3, args.length));
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(conf)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                // a cluster hands neo4j:// clients its advertised address: make it a reachable one
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.default_advertised_address, new SocketAddress("127.0.0.1"))
                .setConfig(HttpConnector.enabled, false)
                // small: heap is set by -Xmx (<= 1 GiB); page cache 128 MiB
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(128))
                // query timeouts (analyst Cypher) fire within ~100 ms of their deadline
                .setConfig(GraphDatabaseSettings.transaction_monitor_check_interval, Duration.ofMillis(100))
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            stopped.countDown();
        }));

        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        system.executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");

        System.out.println("NEO4J READY bolt://127.0.0.1:" + port);
        System.out.flush();

        // serve until stdin closes
        InputStream in = System.in;
        try {
            while (in.read() != -1) {
                // ignore input; EOF means the parent is gone
            }
        } catch (IOException ignored) {
            // same as EOF
        }
        System.exit(0);
    }
}

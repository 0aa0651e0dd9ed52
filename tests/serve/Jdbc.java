// PgJDBC against `tributary serve`: connect, a PreparedStatement with parameters run
// more times than prepareThreshold (so the driver switches to a named server-side
// statement and binary transfer), getTables / getColumns metadata, an error with its
// SQLSTATE, the read-only refusal. Prints "ok ..." lines; exits 1 on a mismatch.
import java.sql.*;

public class Jdbc {
    static void eq(String name, Object a, Object b) {
        if (!String.valueOf(a).equals(String.valueOf(b))) {
            System.out.println("FAIL " + name + ": expected " + b + " got " + a);
            System.exit(1);
        }
        System.out.println("ok   " + name);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/tributary?sslmode=disable";
        try (Connection c = DriverManager.getConnection(url, "jdbc", args.length > 1 ? args[1] : "")) {
            PreparedStatement ps = c.prepareStatement(
                "SELECT category, quantity, price, ts FROM sales WHERE sale_id = ? AND category <> ?");
            for (int i = 0; i < 8; i++) {
                int id = i % 2 + 1;
                ps.setInt(1, id);
                ps.setString(2, "none");
                try (ResultSet rs = ps.executeQuery()) {
                    eq("jdbc row " + i, rs.next(), true);
                    eq("jdbc category " + i, rs.getString(1), id == 1 ? "books" : "toys");
                    eq("jdbc quantity " + i, rs.getLong(2), id == 1 ? 3 : 5);
                    eq("jdbc price " + i, rs.getDouble(3), id == 1 ? 1.5 : 2.25);
                    eq("jdbc ts " + i, rs.getTimestamp(4),
                       id == 1 ? "2024-01-01 10:00:00.0" : "2024-01-01 10:00:05.0");
                    eq("jdbc one row " + i, rs.next(), false);
                }
            }
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT category, sum(quantity) FROM sales GROUP BY 1 ORDER BY 2 DESC, 1")) {
                rs.next();
                eq("jdbc aggregate", rs.getString(1) + "=" + rs.getLong(2), "books=5");
            }
            DatabaseMetaData md = c.getMetaData();
            StringBuilder tables = new StringBuilder();
            try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next())
                    tables.append(rs.getString("TABLE_NAME")).append(':').append(rs.getString("TABLE_TYPE")).append(' ');
            }
            eq("jdbc getTables", tables.toString().trim(), "sales:TABLE totals:VIEW");
            StringBuilder cols = new StringBuilder();
            try (ResultSet rs = md.getColumns(null, null, "sales", null)) {
                while (rs.next())
                    cols.append(rs.getString("COLUMN_NAME")).append(':').append(rs.getString("TYPE_NAME")).append(' ');
            }
            eq("jdbc getColumns", cols.toString().trim(), "sale_id:int4 category:text quantity:int8 ok:bool price:float8 ts:timestamp");
            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT nope FROM sales");
                eq("jdbc error", "none", "error");
            } catch (SQLException e) {
                eq("jdbc error sqlstate", e.getSQLState(), "42703");
            }
            try (Statement st = c.createStatement()) {
                st.executeUpdate("INSERT INTO sales VALUES (9, 'x', 1, NULL)");
                eq("jdbc read-only", "none", "error");
            } catch (SQLException e) {
                eq("jdbc read-only sqlstate", e.getSQLState(), "25006");
            }
        }
    }
}

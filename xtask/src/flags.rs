//! The command line of `cargo xtask`, declared once; xflags generates the parser, which refuses
//! an unknown command, flag or extra argument with a message instead of guessing.

xflags::xflags! {
    /// The project's tooling: `cargo xtask <command>`.
    cmd xtask {
        /// Regenerate functions/health/openapi.json from the code.
        cmd openapi {
            /// Only check that the committed file is current; change nothing.
            optional --check
        }
        /// Regenerate schema/schema.sql: the database as it stands after the last migration.
        cmd schema {
            /// Only check that the committed file is current; change nothing.
            optional --check
            /// The PostgreSQL server to migrate a scratch database on (default: TEST_DATABASE_URL,
            /// else postgres://postgres@127.0.0.1:5432/postgres).
            optional --server url: String
        }
        /// Our EdDSA key ring by hand.
        cmd jwt-keys {
            /// A new key ring as .env lines (JWT_ALGORITHM, JWT_SIGNING_KEY, JWT_PUBLIC_KEYS).
            cmd env {}
            /// One rotation of the ring kept in Secrets Manager (the stack's JwtSigningKeysArn and
            /// JwtPublicKeysArn outputs; credentials and region as for the AWS CLI).
            cmd rotate {
                required private_secret_arn: String
                required public_secret_arn: String
            }
        }
    }
}

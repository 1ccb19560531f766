//! Lambda binary of the `$connect` authorizer.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::authorizer::main().await
}

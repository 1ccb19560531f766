//! Lambda binary of the `default` function.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::main::<streamgate_lambda::Posting>(streamgate_contract::Function::Default)
        .await
}

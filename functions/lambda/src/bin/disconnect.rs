//! Lambda binary of the `disconnect` function.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::main::<streamgate_lambda::StoreOnly>(
        streamgate_contract::Function::Disconnect,
    )
    .await
}

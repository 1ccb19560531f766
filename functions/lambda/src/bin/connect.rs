//! Lambda binary of the `connect` function.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::main::<streamgate_lambda::StoreOnly>(streamgate_contract::Function::Connect)
        .await
}

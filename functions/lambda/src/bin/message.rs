//! Lambda binary of the `message` function.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::main::<streamgate_lambda::Answering>(streamgate_contract::Function::Message)
        .await
}

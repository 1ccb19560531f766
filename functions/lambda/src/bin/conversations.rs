//! Lambda binary of the `conversations` function (`history`, `conversations`, `cancel`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    streamgate_lambda::main::<streamgate_lambda::Conversing>(
        streamgate_contract::Function::Conversations,
    )
    .await
}

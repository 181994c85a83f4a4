//! The terminal door: `baoxiu chat` runs the same flows in a terminal, as a reporter or
//! (with `--engineer HANDLE`) as an engineer, against the same database.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::conversation::{Chat, ChatError, Person};
use crate::flow::{Incoming, Outgoing};

/// Renders replies as plain text: buttons become a numbered list (typing the number, the
/// label or an alias answers; the engine accepts all three).
pub fn render(replies: &[Outgoing]) -> String {
    let mut out = String::new();
    for r in replies {
        match r {
            Outgoing::Text(t) => {
                out.push_str(t);
                out.push('\n');
            }
            Outgoing::Choices { text, options } => {
                out.push_str(text);
                out.push('\n');
                for (i, (_, label)) in options.iter().enumerate() {
                    out.push_str(&format!("  {}) {label}\n", i + 1));
                }
            }
            // Forms are for platforms that show them; the questions follow one by one.
            Outgoing::Form { .. } => {}
        }
    }
    out
}

/// Runs a conversation over a line-based input and output until the input ends.
pub async fn run<R, W>(
    chat: &Chat,
    person: &Person,
    input: R,
    mut output: W,
) -> Result<(), ChatError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let write = |text: String| text.into_bytes();
    let first = chat.resume(person).await?;
    output.write_all(&write(render(&first))).await.ok();
    output.write_all(b"> ").await.ok();
    output.flush().await.ok();
    let mut lines = input.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let replies = chat.handle(person, Incoming::Text(line)).await?;
        output.write_all(&write(render(&replies))).await.ok();
        output.write_all(b"> ").await.ok();
        output.flush().await.ok();
    }
    Ok(())
}

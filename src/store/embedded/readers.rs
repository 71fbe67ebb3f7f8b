//! The reader pool: a fixed set of threads, each owning one read-only
//! connection, taking queries from one queue.
//!
//! Fixed threads rather than the runtime's blocking pool: every HTTP
//! worker's runtime has a blocking pool of its own, and a pool starts a new
//! thread whenever none of its threads is idle at that instant, so 10,000
//! streams checking their queues at once had started some 70 threads (each
//! with a stack and an allocator heap), whatever bound was put on the
//! queries themselves. Here there are never more threads than connections.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::Result;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the reader threads; they end when it is dropped.
pub(super) struct Readers {
    jobs: mpsc::Sender<Job>,
}

impl Readers {
    /// One thread per connection, named `<name>-<i>`.
    pub(super) fn start(name: &str, conns: Vec<Connection>) -> std::io::Result<Readers> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for (i, conn) in conns.into_iter().enumerate() {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // the lock is held only while waiting for the next job
                    let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        // a query that panics loses its answer (the caller
                        // sees an error), not the thread
                        Ok(job) => {
                            let _ = catch_unwind(AssertUnwindSafe(|| job(&conn)));
                        }
                        Err(mpsc::RecvError) => return,
                    }
                })?;
        }
        Ok(Readers { jobs })
    }

    /// Queue `f` for the next free reader. The receiver fails when the
    /// query panicked or the readers are gone; a query whose caller stopped
    /// waiting before it started is skipped.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> oneshot::Receiver<Result<T>> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            if !tx.is_closed() {
                let _ = tx.send(f(conn));
            }
        });
        // a send fails only when every thread has ended: `rx` then fails
        let _ = self.jobs.send(job);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(n: usize) -> Readers {
        let conns = (0..n)
            .map(|_| Connection::open_in_memory().expect("memory db"))
            .collect();
        Readers::start("hookbay-reader", conns).expect("threads")
    }

    #[tokio::test]
    async fn queries_run_on_the_pool_and_answer() {
        let r = readers(2);
        let got = r
            .run(|c| Ok(c.query_row("SELECT 40 + 2", [], |row| row.get::<_, i64>(0))?))
            .await
            .expect("answer")
            .expect("query");
        assert_eq!(got, 42);
    }

    #[tokio::test]
    async fn a_panicking_query_fails_alone_and_the_thread_lives_on() {
        let r = readers(1);
        let failed = r
            .run(|_| -> Result<()> { panic!("a query that panics") })
            .await;
        assert!(failed.is_err(), "the caller hears of the panic");
        // the only thread still serves
        let got = r.run(|_| Ok(7)).await.expect("answer").expect("query");
        assert_eq!(got, 7);
    }

    #[tokio::test]
    async fn never_more_threads_than_connections() {
        let r = readers(3);
        let names = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let waits: Vec<_> = (0..200)
            .map(|_| {
                let names = names.clone();
                r.run(move |_| {
                    let name = std::thread::current().name().map(String::from);
                    names.lock().expect("names").insert(name);
                    Ok(())
                })
            })
            .collect();
        for w in waits {
            w.await.expect("answer").expect("query");
        }
        let names = names.lock().expect("names");
        assert!(!names.is_empty() && names.len() <= 3, "{names:?}");
        assert!(names.iter().all(|n| n
            .as_deref()
            .is_some_and(|n| n.starts_with("hookbay-reader-"))));
    }
}
